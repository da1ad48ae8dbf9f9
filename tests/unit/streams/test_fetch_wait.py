"""The worker's consumer gets the fetch wait of the settings, not faust's hard-coded 1,500 ms."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from streams.worker.app import create_app


@pytest.mark.asyncio
@pytest.mark.parametrize("wait_ms", [20, 250])
async def test_the_worker_consumer_gets_the_configured_fetch_wait(tmp_path: Path, wait_ms: int) -> None:
    settings = Settings(data_dir=tmp_path, app_id=f"fetch-wait-{wait_ms}", fetch_max_wait_ms=wait_ms)
    app = create_app(settings).app
    # The aiokafka consumer faust would start for this worker (built, not connected).
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == wait_ms
    finally:
        await consumer.stop()
