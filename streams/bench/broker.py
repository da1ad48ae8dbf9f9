"""Bench plumbing: per-phase topics, a real `lytewatch worker` subprocess, bulk producing, lag, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from streams.bench.feeds import Record
from streams.kafka import admin_client, client_options
from streams.settings import Settings
from streams.topic_registry import TOPICS
from streams.topics import ensure_topics

REPO = Path(__file__).resolve().parents[2]
_RECOVERED = re.compile(r"recovered table patients: (\d+) entries")


class BenchError(Exception):
    """A benchmark phase could not be measured (worker died, never got ready, never drained)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Phase:
    """One phase's private world: app id (= consumer group and topic prefix), topics, data dir, port."""

    settings: Settings
    prefix: str
    workdir: Path
    web_port: int = field(default_factory=free_port)

    @classmethod
    def create(cls, base: Settings, run_id: str, name: str) -> Phase:
        prefix = f"lwbench-{run_id}-{name}"
        names = {topic.setting: f"{prefix}.{topic.kind}" for topic in TOPICS}
        settings = base.model_copy(update={"app_id": prefix, **names})
        return cls(settings=settings, prefix=prefix, workdir=Path(tempfile.mkdtemp(prefix=f"{prefix}-")))

    @property
    def pipeline_topics(self) -> list[str]:
        """The topics whose committed offsets say the worker is done: inputs and patient-events."""
        return [*self.settings.input_topics.values(), self.settings.topic_patient_events]

    def worker_env(self, data_dir: Path, web_port: int) -> dict[str, str]:
        """The worker's environment: the caller's broker, security and rules; this phase's names."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("LYTEWATCH_")}
        values: dict[str, object | None] = {
            "BROKER": s.broker,
            "BROKER_SECURITY_PROTOCOL": s.broker_security_protocol,
            "BROKER_SASL_MECHANISM": s.broker_sasl_mechanism,
            "BROKER_SASL_USERNAME": s.broker_sasl_username,
            "BROKER_SASL_PASSWORD": s.broker_sasl_password.get_secret_value()
            if s.broker_sasl_password
            else None,
            "BROKER_SSL_CAFILE": s.broker_ssl_cafile,
            "PARTITIONS": s.partitions,
            "APP_ID": s.app_id,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": web_port,
            "STORE": s.store,
            "DATA_DIR": data_dir,
            "HOSPITAL_TZ": s.hospital_tz,
            "RULES_FILE": s.rules_file,
            "CODE_MAPPING_FILE": s.code_mapping_file,
            # INFO: the recovery figure is read from the worker's "recovered table patients" line.
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",
        }
        for topic in TOPICS:
            values[topic.setting.upper()] = getattr(s, topic.setting)
        env.update({f"LYTEWATCH_{k}": str(v) for k, v in values.items() if v is not None})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def create_topics(self) -> None:
        await ensure_topics(self.settings)

    async def delete(self) -> None:
        """Delete every topic of this phase (faust's changelog and assignor topics too) and its files."""
        admin = admin_client(self.settings)
        await admin.start()
        try:
            # Quix Streams names its changelog topics "changelog__<group>--...": the prefix is inside.
            names = [t for t in await admin.list_topics() if self.prefix in t]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Child:
    """A process the bench started (a worker or a peer app), its output in a log file of the phase."""

    def __init__(self, phase: Phase, name: str, command: list[str], env: Mapping[str, str]) -> None:
        self.phase = phase
        self.name = name
        self.log_path = phase.workdir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            command, env=dict(env), cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # utime and stime are fields 14 and 15 of proc(5); the split starts at field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush, commit or leave its group."""
        self.popen.kill()
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM and wait (faust flushes its producer, so the changelog is complete); SIGKILL if stuck."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log.close()


class WorkerProcess(Child):
    """A real `lytewatch worker` subprocess (`python -m streams.cli worker`), its log in a file."""

    def __init__(self, phase: Phase, name: str, data_dir: Path, web_port: int | None = None) -> None:
        self.web_port = phase.web_port if web_port is None else web_port
        command = [sys.executable, "-m", "streams.cli", "worker"]
        super().__init__(phase, name, command, phase.worker_env(data_dir, self.web_port))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    async def wait_ready(self, limit_s: float = 300.0) -> float:
        """Poll /readyz until 200; return the monotonic time it first answered 200."""
        deadline = time.monotonic() + limit_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return time.monotonic()
                await asyncio.sleep(0.05)
        raise BenchError(f"worker not ready after {limit_s:.0f} s:\n{self.log()[-3000:]}")

    async def check_agents(self) -> None:
        """Fail when /readyz reports a crashed agent: its figures would measure a worker doing nothing."""
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0)) as session,
            session.get(f"{self.url}/readyz") as response,
        ):
            body = await response.json(content_type=None)
        agents = body.get("checks", {}).get("agents", {})
        if not agents.get("ok", True) and "crashed" in str(agents.get("detail")):
            raise BenchError(f"worker agent crashed ({agents['detail']}):\n{self.log()[-3000:]}")

    async def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """The worker's /metrics as {sample name: {sorted labels: value}}."""
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10.0)) as session,
            session.get(f"{self.url}/metrics") as response,
        ):
            text = await response.text()
        samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[labels] = float(sample.value)
        return samples

    async def inputs_counted(self) -> int:
        """Input messages the worker has taken so far (used, ignored or dead-lettered), by its own counter."""
        return int(sum((await self.metrics()).get("lytewatch_input_messages_total", {}).values()))

    def rss_bytes(self) -> int:
        """VmRSS of the worker process, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise BenchError("no VmRSS in /proc status")

    def recovered_entries(self) -> int | None:
        """N of the worker's "recovered table patients: N entries" log line, once it was written."""
        found = _RECOVERED.findall(self.log())
        return int(found[-1]) if found else None


async def produce_all(settings: Settings, topics: Mapping[str, str], records: Iterable[Record]) -> int:
    """Produce records as fast as the client batches them, all acknowledged on return; returns the count."""
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    count = 0
    try:
        pending = []
        for record in records:
            pending.append(await producer.send(topics[record.kind], value=record.value, key=record.key))
            count += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


class GroupProgress:
    """Committed offsets of a consumer group against the end offsets of its topics (the admin's view)."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = topics
        self.admin: AIOKafkaAdminClient = admin_client(settings)
        self.probe = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        self.partitions: list[TopicPartition] = []

    @classmethod
    def of(cls, phase: Phase) -> GroupProgress:
        """The progress of a phase's worker group on its inputs and patient-events."""
        return cls(phase.settings, phase.settings.app_id, phase.pipeline_topics)

    async def __aenter__(self) -> GroupProgress:
        await self.admin.start()
        await self.probe.start()
        described = await self.admin.describe_topics(self.topics)
        self.partitions = [
            TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", [])
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.probe.stop()
        await self.admin.close()

    async def ends(self) -> dict[TopicPartition, int]:
        return dict(await self.probe.end_offsets(self.partitions))

    async def committed(self) -> dict[TopicPartition, int]:
        offsets = await self.admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
        return {tp: max(meta.offset, 0) for tp, meta in offsets.items() if meta is not None}

    async def snapshot(self) -> tuple[int, int]:
        """(committed, end) summed over every partition."""
        ends = await self.ends()
        committed = await self.committed()
        return sum(committed.get(tp, 0) for tp in ends), sum(ends.values())

    async def wait_drained(
        self,
        worker: Child,
        *,
        limit_s: float,
        poll: float = 0.2,
    ) -> float:
        """Wait until committed == end on every partition twice in a row with unchanged ends (nothing in
        flight between the stages); return the monotonic time of the first of those two polls."""
        deadline = time.monotonic() + limit_s
        candidate: tuple[float, int] | None = None
        polls = 0
        while time.monotonic() < deadline:
            worker.check_alive()
            if polls % 10 == 0 and isinstance(worker, WorkerProcess):
                await worker.check_agents()
            polls += 1
            now = time.monotonic()
            done, total = await self.snapshot()
            if done >= total:
                if candidate is not None and candidate[1] == total:
                    return candidate[0]
                candidate = (now, total)
            else:
                candidate = None
            await asyncio.sleep(poll)
        done, total = await self.snapshot()
        raise BenchError(f"worker did not drain in {limit_s:.0f} s: committed {done} of {total}")


async def read_to_end(
    settings: Settings,
    topics: list[str],
    handle: Callable[[list[ConsumerRecord]], None],
    *,
    stall_s: float = 30.0,
) -> float:
    """Read `topics` from the start to the end offsets they have now, handing each fetched batch to `handle`;
    return the seconds spent reading. No group, no commits; a read that stops moving fails, naming where."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        started = time.perf_counter()
        moved = time.monotonic()
        while remaining:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                handle(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            if batch:
                moved = time.monotonic()
            elif time.monotonic() - moved > stall_s:
                where = {
                    f"{tp.topic}[{tp.partition}]": (await consumer.position(tp), ends[tp]) for tp in remaining
                }
                raise BenchError(f"reading stalled for {stall_s:.0f} s at (position, end): {where}")
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def bare_consume(settings: Settings, topics: list[str]) -> tuple[int, float]:
    """Read `topics` from the start to their end offsets, orjson-decoding each JSON value and splitting each
    other value (HL7 v2) into its segments: (records, seconds).

    The physical limit of one Python process with aiokafka on this machine: no groups, no commits.
    """
    loads = orjson.loads
    count = 0

    def decode(records: list[ConsumerRecord]) -> None:
        nonlocal count
        for record in records:
            value = record.value
            if value[:1] == b"{":
                loads(value)
            else:
                value.split(b"\r")
        count += len(records)

    seconds = await read_to_end(settings, topics, decode)
    return count, seconds
