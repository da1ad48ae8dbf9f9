"""`lytewatch bench`: throughput, latency, recovery and memory of a real worker on the local broker."""
