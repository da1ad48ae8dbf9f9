"""The on-call notifier service: consume alerts, apply the pure policy, deliver, log deliveries."""
