"""The peer job as the smallest honest faust-streaming app: one agent, one RocksDB table with its changelog.

Run by `lytewatch bench`: python -m streams.bench.peers.faust_peer JOB.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import faust
import orjson

from streams.bench.peers.job import PeerJob, step


def build(job: PeerJob) -> faust.App:
    app = faust.App(
        job.group,
        broker=f"kafka://{job.bootstrap}",
        store="rocksdb://",
        datadir=job.state_dir,
        topic_partitions=job.partitions,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
    )
    labs = app.topic(job.input_topic, key_type=bytes, value_type=bytes)
    out = app.topic(job.output_topic, key_type=bytes, value_type=bytes, partitions=job.partitions)
    latest = app.Table("latest", key_type=bytes, value_type=bytes, default=None, partitions=job.partitions)

    @app.agent(labs)
    async def peer(stream: faust.StreamT) -> None:
        async for key, raw in stream.items():
            kept = latest.get(key)
            updated, record = step(job, None if kept is None else orjson.loads(kept), raw)
            if updated is not None:
                latest[key] = orjson.dumps(updated)
            if record is not None:
                await out.send(key=key, value=record)

    return app


def main() -> None:
    app = build(PeerJob.read(Path(sys.argv[1])))
    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
