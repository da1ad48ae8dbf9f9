"""The on-call notifier's pure parts (routing, policy, messages) and its receivers (HTTP and SMTP I/O)."""
