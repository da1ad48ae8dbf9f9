"""`lytewatch replay --jobs N`: patients sharded over N processes, output merged into the --jobs 1 order."""

from __future__ import annotations

import heapq
import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import IO

from alerts.codes import CodeMapping
from alerts.rulesfile import RulesConfig
from streams.errors import StreamsError
from streams.replay import OutputKey, ReplaySummary, Shard, Sink, open_lines, replay_shard


class ReplayJobError(StreamsError):
    """A replay job process failed; its traceback is in the message."""


class _KeyedFileSink(Sink):
    """A shard's output: each record behind its order key, one a line, in the shard's (file) order."""

    def __init__(self, alerts: IO[bytes], deadletters: IO[bytes]) -> None:
        self._alerts = alerts
        self._deadletters = deadletters

    def alert(self, key: OutputKey, record: bytes) -> None:
        self._alerts.write(b"%d %d %d " % key + record + b"\n")

    def deadletter(self, line_no: int, record: bytes) -> None:
        self._deadletters.write(b"%d 0 0 " % line_no + record + b"\n")


def _keyed(path: Path) -> Iterator[tuple[OutputKey, bytes]]:
    with path.open("rb") as handle:
        for line in handle:
            line_no, index, seq, record = line.split(b" ", 3)
            yield (int(line_no), int(index), int(seq)), record


def _run_job(
    source: str,
    shard: Shard,
    workdir: Path,
    progress: Synchronized[int],
    rules: RulesConfig,
    mapping: CodeMapping,
    tz: tzinfo,
    started_at: datetime,
) -> None:
    """The body of one job process: replay its shard into keyed files, then pickle its summary."""
    name = workdir / f"shard-{shard.index}"
    try:
        with open(f"{name}.alerts", "wb") as alerts, open(f"{name}.dead", "wb") as dead:

            def report(lines_done: int) -> None:
                progress.value = lines_done

            summary = replay_shard(
                open_lines(source),
                shard,
                _KeyedFileSink(alerts, dead),
                rules=rules,
                mapping=mapping,
                tz=tz,
                started_at=started_at,
                progress=report,
            )
        Path(f"{name}.summary").write_bytes(pickle.dumps(summary))
    except BaseException:
        Path(f"{name}.error").write_text(traceback.format_exc())
        raise


def replay_jobs(
    source: str,
    jobs: int,
    workdir: Path,
    *,
    rules: RulesConfig,
    mapping: CodeMapping,
    tz: tzinfo,
    alerts_out: IO[bytes],
    deadletter_out: IO[bytes] | None,
    started_at: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Replay `source` (a file: every job reads it) in `jobs` processes; write exactly what --jobs 1 writes.

    Each job owns the patients whose id hashes to it, so a patient's events are applied in file order by
    one process. Outputs are merged on (line, event, alert) keys, which is the order of a single process.
    `on_progress` gets the number of lines the slowest job has read, a few times a second.
    """
    # fork: the jobs inherit the loaded rules, mapping and imported modules instead of re-importing.
    context = multiprocessing.get_context("fork")
    counters = [context.Value("q", 0, lock=False) for _ in range(jobs)]
    processes = [
        context.Process(
            target=_run_job,
            args=(source, Shard(n, jobs), workdir, counters[n], rules, mapping, tz, started_at),
            name=f"lytewatch-replay-{n}",
            daemon=True,
        )
        for n in range(jobs)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            while process.is_alive():
                process.join(timeout=0.2)
                if on_progress is not None:
                    on_progress(min(counter.value for counter in counters))
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    summary = ReplaySummary()
    for n, process in enumerate(processes):
        shard = workdir / f"shard-{n}"
        if process.exitcode != 0 or not Path(f"{shard}.summary").exists():
            error = Path(f"{shard}.error")
            detail = error.read_text() if error.exists() else f"exit code {process.exitcode}"
            raise ReplayJobError(f"replay job {n} of {jobs} failed: {detail}")
        summary.add(pickle.loads(Path(f"{shard}.summary").read_bytes()))
    _merge([Path(f"{workdir}/shard-{n}.alerts") for n in range(jobs)], alerts_out)
    if deadletter_out is not None:
        _merge([Path(f"{workdir}/shard-{n}.dead") for n in range(jobs)], deadletter_out)
    return summary


def _merge(paths: list[Path], out: IO[bytes]) -> None:
    for _, record in heapq.merge(*(_keyed(path) for path in paths), key=lambda item: item[0]):
        out.write(record)
