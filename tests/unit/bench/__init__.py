"""Unit tests of the pure parts of `lytewatch bench`: workloads, the peer job, figure assembly."""
