"""The on-call notifier's pure parts: routing, policy, messages (delivery I/O is in streams.notifier)."""
