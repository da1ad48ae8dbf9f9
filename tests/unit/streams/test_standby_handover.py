"""A partition taken over from standby: its standby copy misses no record, and it is not also a standby."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.types import TP
from faust.types.tuples import Message

from streams.settings import Settings
from streams.worker import standby_handover
from streams.worker.app import create_app
from streams.worker.runtime import Runtime

PARTITIONS = 6


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = Settings(data_dir=tmp_path, app_id="handover", store="memory://", partitions=PARTITIONS)
    return create_app(settings)


def _changelog(runtime: Runtime) -> str:
    table: Any = runtime.patients
    return str(table.changelog_topic_name)


class _MemberAssignment:
    """What the group leader hands a member: its topic partitions, and faust's own metadata as user data."""

    def __init__(self, assignor: Any, client: ClientAssignment) -> None:
        self.assignment = client.kafka_protocol_assignment(assignor._table_manager)
        metadata = ClientMetadata(assignment=client, url=str(assignor._url), changelog_distribution={})
        self.user_data = assignor._compress(metadata.dumps())


def _assign(runtime: Runtime, actives: dict[str, list[int]], standbys: dict[str, list[int]]) -> None:
    assignor: Any = runtime.app.assignor
    assignor.on_assignment(_MemberAssignment(assignor, ClientAssignment(actives=actives, standbys=standbys)))


def test_a_partition_promoted_to_active_on_the_last_worker_is_not_also_its_standby(runtime: Runtime) -> None:
    changelog = _changelog(runtime)
    # What faust's sticky assignor gave the one worker left in a rolling restart (seen in a failing run):
    # all partitions active, and the three it had been standby for still standby.
    _assign(runtime, {changelog: list(range(PARTITIONS))}, {changelog: [3, 4, 5]})
    assignor: Any = runtime.app.assignor
    assert assignor.assigned_actives() == {TP(changelog, p) for p in range(PARTITIONS)}
    assert assignor.assigned_standbys() == set()
    assert not any(assignor.is_standby(TP(changelog, p)) for p in range(PARTITIONS))


def test_standbys_of_partitions_another_worker_runs_are_kept(runtime: Runtime) -> None:
    changelog = _changelog(runtime)
    _assign(runtime, {changelog: [0, 1, 2]}, {changelog: [2, 3, 4, 5]})
    assignor: Any = runtime.app.assignor
    assert assignor.assigned_standbys() == {TP(changelog, p) for p in (3, 4, 5)}
    assert assignor.is_standby(TP(changelog, 4))


def _changelog_event(runtime: Runtime, partition: int, offset: int, key: bytes, value: bytes) -> Any:
    topic = _changelog(runtime)
    message = Message(topic, partition, offset, 0.0, 0, None, key, value, None)
    return runtime.app.create_event(key, value, {}, message)


@pytest.mark.asyncio
async def test_standby_records_queued_when_recovery_completes_are_kept(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = runtime.app
    queue = app.tables.changelog_queue

    async def faust_completion(recovery: Any, generation_id: int = 0) -> None:
        # How faust's Recovery.on_recovery_completed ends (what comes before needs a running consumer).
        recovery.app.flow_control.resume()

    monkeypatch.setattr(standby_handover, "_original_on_recovery_completed", faust_completion)
    # The standby partitions were resumed; their first records wait in the changelog queue.
    records = [_changelog_event(runtime, 4, offset, b"CRASH-01484", b"state") for offset in (210, 211)]
    for event in records:
        queue.put_nowait(event)
    await app.tables.recovery.on_recovery_completed(app.consumer_generation_id)
    assert [queue.get_nowait() for _ in range(queue.qsize())] == records
    # A rebalance's resume (the records are about to be sought again) still empties it, as faust intends.
    queue.put_nowait(records[0])
    app.flow_control.resume()
    assert queue.empty()


@pytest.mark.asyncio
async def test_aiokafka_is_never_handed_an_empty_partition_set_which_it_reads_as_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[Any] = []

    async def aiokafka_fetch(thread: Any, consumer: Any, partitions: Any, **kw: Any) -> dict[Any, Any]:
        # aiokafka's Fetcher.fetched_records skips a partition only `if partitions and tp not in partitions`.
        handed.append(partitions)
        return {}

    monkeypatch.setattr(standby_handover, "_original_fetch_records", aiokafka_fetch)
    unpaused = {TP("patients-changelog", 0)}
    await standby_handover.fetch_records_of_unpaused_partitions(None, None, unpaused, timeout=1.0)
    await standby_handover.fetch_records_of_unpaused_partitions(None, None, None, timeout=1.0)
    live, client_only = handed
    standby = TP("patients-changelog", 4)
    # Recovery ends: the active changelog partitions are paused, the standby ones not yet resumed.
    unpaused.clear()
    assert live and standby not in live  # before: an empty set, so aiokafka returned the standby's records
    unpaused.add(standby)  # the standby partitions resume: read live, as faust intends
    assert standby in live
    assert client_only is None  # faust's client-only mode asks for every partition on purpose
