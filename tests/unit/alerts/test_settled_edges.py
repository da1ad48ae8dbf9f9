"""The settled edges of CLINICAL_RULES.md that the core decides, one test per issue-14 bullet."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.models import AdtEvent, AdtKind, AlertEventKind, ResolveReason, Severity
from alerts.state import decode_state

from .conftest import PATIENT, Hours, MakeAck, MakeAdt, MakeLab, MakeOrder, MakeOru, MakeResult, MakeRun


def test_bullet1_a_transfer_without_location_or_encounter_moves_the_clock_and_expires_values(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    r = run()
    r.feed(order("furosemide", hours(0)), k(3.1, hours(10)), mg(0.62, hours(10)))
    assert r.last.event is AlertEventKind.FIRED
    bare_transfer = AdtEvent(patient_id=PATIENT, event=AdtKind.TRANSFER, occurred_at=hours(10 + 49))

    out = r.feed(bare_transfer)

    # K aged out of its 48 h window at the transfer's time: the alert closes there, not at the next lab.
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.EXPIRED)]
    assert r.current.clock is not None and r.last.event_time == hours(59)


def test_bullet2_an_identical_redelivery_of_an_old_discharge_after_a_new_visit_changes_nothing(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, adt: MakeAdt, hours: Hours
) -> None:
    r = run()
    discharge = adt("discharge", hours(20))
    r.feed(order("furosemide", hours(0)), k(3.1, hours(10)), mg(0.62, hours(10)), discharge)
    assert (r.last.event, r.last.reason) == (AlertEventKind.RESOLVED, ResolveReason.DISCHARGED)
    # 25 h after the discharge: a new visit, which fires its own alert.
    new_visit = hours(45)
    r.feed(order("bumetanide", new_visit, order_id="O2"), k(3.2, new_visit, "K2"), mg(0.65, new_visit, "M2"))
    assert r.last.event is AlertEventKind.FIRED

    assert r.feed(discharge) == []

    escalated = r.feed(k(2.4, new_visit + timedelta(hours=1), "K3"))
    assert [(e.event, e.severity) for e in escalated] == [(AlertEventKind.ESCALATED, Severity.CRITICAL)]


def test_bullet3_a_status_only_change_is_a_new_version_current_on_a_tie(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, mg: MakeLab, hours: Hours
) -> None:
    r = run()
    r.feed(order("furosemide", hours(0)), mg(0.62, hours(10)))
    r.feed(oru(result("K", 3.1, hours(10), "R1", status="preliminary")))
    r.feed(oru(result("K", 3.3, hours(10), "R2")))
    assert r.last.evidence.potassium is not None and r.last.evidence.potassium.result_id == "R2"

    # R1 final with the same value: received later, so on the tie of collected_at it is now current.
    out = r.feed(oru(result("K", 3.1, hours(10), "R1", status="final")))

    assert [e.event for e in out] == [AlertEventKind.UPDATED]
    assert out[0].evidence.potassium is not None
    assert (out[0].evidence.potassium.result_id, out[0].evidence.potassium.value) == ("R1", 3.1)
    # Only a message identical in every field is a re-delivery.
    assert r.feed(oru(result("K", 3.1, hours(10), "R1", status="final"))) == []


@pytest.mark.parametrize("end_offset_h", [0, -1], ids=["end_equals_start", "end_before_start"])
def test_bullet4_a_single_dose_of_potassium_counts_as_replacement_for_refractory(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, hours: Hours, end_offset_h: int
) -> None:
    r = run()
    single_dose = order(
        "potassium chloride", hours(6), end=hours(6 + end_offset_h), status="completed", order_id="KCL1"
    )

    r.feed(order("bumetanide", hours(0)), single_dose, mg(0.65, hours(5)))
    # K after s + 4 h and still low: refractory, so moderate is raised to high.
    out = r.feed(k(3.2, hours(11)))

    assert [(e.event, e.severity) for e in out] == [(AlertEventKind.FIRED, Severity.HIGH)]
    assert out[0].evidence.refractory is True


def test_bullet7_the_same_person_again_at_the_same_severity_changes_nothing_whatever_its_at(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, ack: MakeAck, hours: Hours
) -> None:
    r = run()
    r.feed(order("furosemide", hours(0)), k(3.1, hours(10)), mg(0.62, hours(10)))
    alert_id = r.last.alert_id
    assert [e.event for e in r.feed(ack(alert_id, "nurse1", hours(11)))] == [AlertEventKind.ACKNOWLEDGED]
    assert [e.event for e in r.feed(ack(alert_id, "doctor2", hours(12)))] == [AlertEventKind.ACKNOWLEDGED]

    # nurse1 again, later, at the same severity (another person acknowledged in between): nothing new.
    assert r.feed(ack(alert_id, "nurse1", hours(13))) == []
    # An identical re-delivery of nurse1's first ack after an escalation: still nothing.
    r.feed(mg(0.45, hours(14), "M2"))
    assert r.last.event is AlertEventKind.ESCALATED
    assert r.feed(ack(alert_id, "nurse1", hours(11))) == []
    # nurse1 after the escalation, a new ack: a new acknowledged.
    assert [e.event for e in r.feed(ack(alert_id, "nurse1", hours(15)))] == [AlertEventKind.ACKNOWLEDGED]


def test_a_state_stored_before_these_fixes_still_decodes_and_keeps_its_meaning(
    run: MakeRun, result: MakeResult, oru: MakeOru, ack: MakeAck, hours: Hours
) -> None:
    # Format 1 as a running worker wrote it before: 7-field results, 12-field alerts (one ack known).
    at = int(hours(10).timestamp() * 1_000_000)
    old = (
        b'{"v":1,"c":%d,"s":3,"r":{"K-021000":["K",1,3.1,3.1,"mmol/L",%d,2],'
        b'"Mg-021000":["Mg",1,0.62,0.62,"mmol/L",%d,3]},'
        b'"o":{"O-furosemide":[%d,%d,null,[["furosemide","loop"]],0]},'
        b'"a":{"KMG_COMBINED":["kmg-1",2,"moderate","K-021000",3.1,"Mg-021000",0.62,["O-furosemide"],0,'
        b'"nurse1",%d,"moderate"]},"u":["kmg-1"]}'
    ) % (at, at, at, at - 36_000_000_000, at - 36_000_000_000, at)
    r = run()
    r.state = decode_state(old)

    # The identical re-delivery of a result stored then still changes nothing ...
    assert r.feed(oru(result("K", 3.1, hours(10), "K-021000"))) == []
    # ... nor does the ack it remembers, whatever its `at`; another person's ack is new.
    assert r.feed(ack("kmg-1", "nurse1", hours(12))) == []
    assert [e.event for e in r.feed(ack("kmg-1", "doctor2", hours(12)))] == [AlertEventKind.ACKNOWLEDGED]
    assert r.last.revision == 3


def test_an_admit_at_the_instant_of_the_discharge_leaves_the_patient_discharged(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, adt: MakeAdt, hours: Hours
) -> None:
    r = run()
    discharge = adt("discharge", hours(12))
    r.feed(order("furosemide", hours(0)), k(3.1, hours(10)), mg(0.62, hours(10)), discharge)

    r.feed(adt("admit", hours(12)), discharge)

    assert r.current.is_discharged
    # Only an admit after the discharge ends it; the rules run again and fire a new episode.
    out = r.feed(adt("admit", hours(13)))
    assert [e.event for e in out] == [AlertEventKind.FIRED] and not r.current.is_discharged
