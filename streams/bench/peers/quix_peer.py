"""The peer job as a Quix Streams app: a stateful apply (RocksDB with its changelog), a filter, a sink topic.

Runs in its own virtualenv (`make bench-peers`: .venv-quix), started by `lytewatch bench` as
.venv-quix/bin/python streams/bench/peers/quix_peer.py JOB.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The repository root, so that the job's plain-Python module imports without lytewatch installed here.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from quixstreams import Application, State

from streams.bench.peers.job import PeerJob, step


def main() -> None:
    job = PeerJob.read(Path(sys.argv[1]))
    app = Application(
        broker_address=job.bootstrap,
        consumer_group=job.group,
        auto_offset_reset="earliest",
        state_dir=job.state_dir,
        # faust's commit interval, so that the bench sees both peers' progress equally often.
        commit_interval=2.8,
        loglevel="WARNING",
    )
    labs = app.topic(job.input_topic, key_deserializer="bytes", value_deserializer="bytes")
    out = app.topic(job.output_topic, key_serializer="bytes", value_serializer="bytes")

    def peer(raw: bytes, state: State) -> Any:
        updated, record = step(job, state.get("latest"), raw)
        if updated is not None:
            state.set("latest", updated)
        return record

    sdf = app.dataframe(labs).apply(peer, stateful=True).filter(lambda record: record is not None)
    sdf.to_topic(out)
    app.run()


if __name__ == "__main__":
    main()
