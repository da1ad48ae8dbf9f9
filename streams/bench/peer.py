"""The peer phase of `lytewatch bench`: lytewatch, a minimal faust app and a Quix Streams app on one job."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

from aiokafka.admin import NewTopic

from streams.bench.broker import REPO, BenchError, Child, GroupProgress, Phase, WorkerProcess, produce_all
from streams.bench.feeds import PEER_K_LOW, PEER_MG_LOW, peer_records
from streams.bench.peers.job import PeerJob
from streams.bench.phases import Figures
from streams.kafka import admin_client
from streams.settings import Settings

#: The Quix Streams peer's interpreter: its own virtualenv (`make bench-peers`), since quixstreams pins a
#: pydantic older than lytewatch's.
QUIX_PYTHON = REPO / ".venv-quix" / "bin" / "python"
#: How the peer job recognises K and Mg: the LOINC codes the peer feed uses (streams.bench.feeds.lab_result).
_K_CODES, _MG_CODES = ("2823-3",), ("2601-3",)


#: The figures of each peer (peer_<name>_<key>): None when the peer could not be measured.
_PEER_KEYS = ("events_per_s", "events_per_cpu_s", "ratio", "cpu_ratio")


@dataclass(frozen=True, slots=True)
class Drain:
    """One app's pass over a preloaded backlog: input events/s and events per CPU-second, commit to commit."""

    events_per_s: float
    events_per_cpu_s: float
    seconds: float


async def timed_drain(progress: GroupProgress, child: Child, events: int, *, limit_s: float) -> Drain:
    """Time `child` over a backlog of `events` input events, from the first commit of its group that the
    admin sees to the moment every partition is committed to its end. Commits are seconds apart (faust
    every 2.8 s, the Quix peer alike), so both ends of the interval are commits and the work committed at
    the first one is left out (for a lytewatch worker, the larger of that and its own input count); a backlog
    done by the first commit is timed from the process start."""
    deadline = time.monotonic() + limit_s
    while True:
        child.check_alive()
        done, total = await progress.snapshot()
        if done > 0:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{child.name} committed nothing in {limit_s:.0f} s:\n{child.log()[-3000:]}")
        await asyncio.sleep(0.05)
    started, cpu_started = time.monotonic(), child.cpu_seconds()
    if isinstance(child, WorkerProcess):
        # The worker applies records well before it commits them (its commits wait for the producer to flush):
        # what its own input counter says by then is done too, as in phases._backlog.
        done = max(done, min(total, await child.inputs_counted()))
    if done >= total:
        started, cpu_started, done = child.started, 0.0, 0
    drained = await progress.wait_drained(child, limit_s=limit_s, poll=0.05)
    cpu = child.cpu_seconds() - cpu_started
    share = (total - done) / total
    seconds = max(drained - started, 1e-3)
    return Drain(events * share / seconds, events * share / max(cpu, 1e-3), seconds)


def peer_figures(events: int, lytewatch: Drain, faust: Drain | str, quix: Drain | str) -> Figures:
    """The peer phase's figures: each app's rates and lytewatch's ratio to each peer. A peer given as a
    string could not be measured: its figures are None and the string says why (`peer_<name>_reason`)."""
    figures: Figures = {
        "peer_events": events,
        "peer_lytewatch_events_per_s": round(lytewatch.events_per_s, 1),
        "peer_lytewatch_events_per_cpu_s": round(lytewatch.events_per_cpu_s, 1),
    }
    for name, peer in (("faust", faust), ("quix", quix)):
        if isinstance(peer, str):
            figures.update(dict.fromkeys(f"peer_{name}_{k}" for k in _PEER_KEYS))
            figures[f"peer_{name}_reason"] = peer
            continue
        figures[f"peer_{name}_events_per_s"] = round(peer.events_per_s, 1)
        figures[f"peer_{name}_events_per_cpu_s"] = round(peer.events_per_cpu_s, 1)
        figures[f"peer_{name}_ratio"] = round(lytewatch.events_per_s / peer.events_per_s, 3)
        figures[f"peer_{name}_cpu_ratio"] = round(lytewatch.events_per_cpu_s / peer.events_per_cpu_s, 3)
    return figures


def _peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYTEWATCH_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _run_peer(phase: Phase, name: str, python: str, script: list[str], events: int) -> Drain:
    """Start one peer app on the phase's lab topic with a group of its own; time it over the backlog."""
    s = phase.settings
    job = PeerJob(
        bootstrap=s.bootstrap_servers,
        group=f"{phase.prefix}-{name}",
        input_topic=s.input_topics["labs"],
        output_topic=f"{phase.prefix}.{name}-out",
        state_dir=str(phase.workdir / f"{name}-state"),
        partitions=s.partitions,
        k_codes=_K_CODES,
        mg_codes=_MG_CODES,
        k_low=PEER_K_LOW,
        mg_low=PEER_MG_LOW,
    )
    path = phase.workdir / f"{name}-job.json"
    job.write(path)
    # faust declares only the topics its agents read: the output topic is made here, for both peers alike.
    admin = admin_client(s)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(job.output_topic, s.partitions, 1)])
    finally:
        await admin.close()
    child = Child(phase, f"{name}-peer", [python, *script, str(path)], _peer_env())
    try:
        async with GroupProgress(s, job.group, [job.input_topic]) as progress:
            return await timed_drain(progress, child, events, limit_s=max(600.0, events / 50))
    finally:
        child.stop()


async def _quix(phase: Phase, events: int) -> Drain | str:
    if not QUIX_PYTHON.exists():
        return f"quixstreams is not installed ({QUIX_PYTHON} missing: run `make bench-peers`)"
    try:
        return await _run_peer(phase, "quix", str(QUIX_PYTHON), ["streams/bench/peers/quix_peer.py"], events)
    except BenchError as exc:
        return f"the Quix Streams peer failed: {str(exc)[:500]}"


async def peer(base: Settings, run_id: str, events: int) -> Figures:
    """The peer job's backlog, then lytewatch, the faust peer and the Quix peer over it, one after another."""
    phase = Phase.create(base, run_id, "peer")
    try:
        await phase.create_topics()
        records = list(peer_records(events, patients=max(200, events // 50)))
        kinds = Counter(r.kind for r in records)
        await asyncio.wait_for(produce_all(phase.settings, phase.settings.input_topics, records), 600.0)
        del records
        worker = WorkerProcess(phase, "worker", phase.workdir / "data")
        try:
            async with GroupProgress.of(phase) as progress:
                # lytewatch reads the orders too (its rules need the diuretic); the peers read labs only.
                lytewatch = await timed_drain(progress, worker, kinds["labs"] + kinds["orders"],
                                              limit_s=max(600.0, events / 50))  # fmt: skip
        finally:
            worker.stop()
        secured = phase.settings.broker_security_protocol != "PLAINTEXT"
        faust: Drain | str
        quix: Drain | str
        if secured:
            faust = quix = "the peer apps speak PLAINTEXT only; the configured broker is secured"
        else:
            script = ["-m", "streams.bench.peers.faust_peer"]
            faust = await _run_peer(phase, "faust", sys.executable, script, kinds["labs"])
            quix = await _quix(phase, kinds["labs"])
        return peer_figures(kinds["labs"], lytewatch, faust, quix)
    finally:
        await phase.delete()
