"""Peer apps of `lytewatch bench`: the peer job written for faust-streaming and for Quix Streams."""
