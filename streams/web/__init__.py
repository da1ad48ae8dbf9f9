"""The live dashboard: an aiohttp service over the alerts topic, with acknowledgement."""
