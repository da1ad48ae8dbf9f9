"""lytewatch's Kafka side: faust app, settings, topics, codecs, agents, state table and web endpoints."""

__version__ = "0.1.0"
