"""The worker's stored patient: the sweep's summary read from the header says what the whole state says."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson

from alerts.codes import load_code_mapping
from alerts.rulesfile import load_rules
from streams.bench.feeds import synthetic_envelopes
from streams.topic_registry import DEFAULT_TOPIC_KINDS
from streams.worker.envelope import new_origin
from streams.worker.ingest import ingest_message
from streams.worker.stored import StoredPatient, SweepSummary, encode_stored, step, sweep_summary


def stored_patients(events: int) -> list[StoredPatient]:
    """Every value the table took over `events` of the synthetic hospital (orders, results, admissions,
    discharges, alerts opened and resolved)."""
    rules, mapping = load_rules(None), load_code_mapping(None)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    table: dict[str, StoredPatient] = {}
    values: list[StoredPatient] = []
    for n, line in enumerate(synthetic_envelopes(events, patients=60)):
        outcome = ingest_message(
            DEFAULT_TOPIC_KINDS[line["topic"]],
            orjson.dumps(line["value"]),
            new_origin(line["topic"], 0, n),
            key=None,
            tz=ZoneInfo("UTC"),
            mapping=mapping,
            now=now,
        )
        for envelope in outcome.forward:
            pid = envelope.event.patient_id
            result = step(table.get(pid), envelope, rules, wall_now=1_000.0 + n)
            if result.stored is not None:
                table[pid] = result.stored
                values.append(result.stored)
    return values


def expected(stored: StoredPatient) -> SweepSummary:
    state = stored.state
    if state is None:
        return SweepSummary(stored.touched_at)
    alerts = tuple((rule, alert.severity) for rule, alert in state.alerts.items())
    return SweepSummary(stored.touched_at, state.clock, state.discharged_at, alerts)


def test_the_header_gives_the_sweep_what_the_state_says_and_an_older_record_is_decoded_for_it() -> None:
    values = stored_patients(6_000)
    summaries = [expected(stored) for stored in values]
    # The feed covers what the sweep looks at: open alerts, discharges, event clocks.
    assert any(s.open_alerts for s in summaries)
    assert any(s.discharged_at is not None for s in summaries)
    assert all(s.clock is not None for s in summaries)
    for stored, summary in zip(values, summaries, strict=True):
        raw = encode_stored(stored)
        assert sweep_summary(raw) == summary
        # Written before headers carried the summary: the same answer, from the state itself.
        header, _, body = raw.partition(b"\n")
        older = orjson.dumps({k: v for k, v in orjson.loads(header).items() if k != "sweep"}) + b"\n" + body
        assert sweep_summary(older) == summary


def test_a_patient_without_state_has_only_its_touch_time() -> None:
    assert sweep_summary(encode_stored(StoredPatient(state=None, seen={"labs:0": 3}, touched_at=12.5))) == (
        SweepSummary(12.5)
    )
