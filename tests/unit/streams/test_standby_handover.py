"""A partition taken over from standby is not also its standby; its store holds what recovery counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.types import TP
from faust.types.tuples import Message

from streams.settings import Settings
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


def test_what_recovery_counted_as_read_is_in_the_table_before_the_streams_resume(runtime: Runtime) -> None:
    table: Any = runtime.patients
    recovery: Any = runtime.app.tables.recovery  # type: ignore[attr-defined]
    # Taken from the changelog queue after a rebalance began: counted as read, buffered, not yet applied.
    recovery.buffers[table].extend(
        [
            _changelog_event(runtime, 4, 272, b"CRASH-01484", b"state with its diuretic orders"),
            _changelog_event(runtime, 4, 273, b"CRASH-01485", b"another patient"),
        ]
    )
    recovery._set_recovery_ended()  # faust's "no recovery needed" path, right before the streams resume
    assert table.get(b"CRASH-01484") == b"state with its diuretic orders"
    assert table.get(b"CRASH-01485") == b"another patient"
    assert not recovery.buffers[table]
