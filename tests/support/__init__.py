"""Test support in one place: waiting for a condition, free ports, processes, Kafka helpers."""
