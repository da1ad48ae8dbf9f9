"""HL7 v2 builders put every field where EVENTS.md says, checked with the independent `hl7` parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hl7
import pytest

from streams.feeds.hl7_builders import Obx, OrderMessage, adt_message, hl7_escape, oru_r01, rde_o11

COLLECTED = "2025-01-06T08:30:00+00:00"
RELEASED = "2025-01-06T09:45:10+00:00"


@pytest.fixture
def make_oru() -> Callable[..., str]:
    def build(results: list[Obx] | None = None, **overrides: Any) -> str:
        args: dict[str, Any] = {
            "control_id": "MSG1",
            "patient_id": "MRN7",
            "encounter_id": "E42",
            "location": ("Med/Surg & Tele", "12", "A"),
            "filler": "F99",
            "collected": COLLECTED,
            "released": RELEASED,
            "results": results
            or [
                Obx("2823-3", "Potassium", "3.1", "mmol/L", "C"),
                Obx("19123-9", "Magnesium", "1.5", "mg/dL", "F"),
            ],
        }
        args.update(overrides)
        return oru_r01(**args)

    return build


@pytest.fixture
def make_order() -> Callable[..., OrderMessage]:
    def build(**overrides: Any) -> OrderMessage:
        args: dict[str, Any] = {
            "order_id": "ORD5",
            "patient_id": "MRN7",
            "encounter_id": "E42",
            "location": ("4W", "3", "B"),
            "code": "4603",
            "display": "furosemide 40 mg IV",
            "status": "active",
            "start": COLLECTED,
            "end": RELEASED,
            "recorded_at": COLLECTED,
            "authored_on": COLLECTED,
        }
        args.update(overrides)
        return OrderMessage(**args)

    return build


def test_escape_covers_every_delimiter_and_round_trips_with_the_parser() -> None:
    text = "a|b^c&d~e\\f"
    assert hl7_escape(text) == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    msg = hl7.parse(f"MSH|^~\\&|A|B|C|D|20250106||ORU^R01|1|P|2.5.1\rNTE|1|L|{hl7_escape(text)}")
    assert msg.unescape(str(msg.segment("NTE")[3])) == text


def test_oru_fields_are_in_their_places(make_oru: Callable[..., str]) -> None:
    msg = hl7.parse(make_oru())
    assert str(msg.segment("MSH")[9]) == "ORU^R01^ORU_R01"
    assert str(msg.segment("MSH")[7]) == "20250106094510+0000"
    assert str(msg.segment("PID")[3][0][0]) == "MRN7"
    pv1 = msg.segment("PV1")
    assert msg.unescape(str(pv1[3][0][0])) == "Med/Surg & Tele"
    assert (str(pv1[3][0][1]), str(pv1[3][0][2])) == ("12", "A")
    assert str(pv1[19]) == "E42"
    obr = msg.segment("OBR")
    assert (str(obr[3]), str(obr[7]), str(obr[22])) == ("F99", "20250106083000+0000", "20250106094510+0000")
    first, second = msg.segments("OBX")
    assert str(first[3][0][0]) == "2823-3" and str(first[3][0][2]) == "LN"
    assert (str(first[5]), str(first[6]), str(first[11]), str(first[14])) == (
        "3.1",
        "mmol/L",
        "C",
        "20250106083000+0000",
    )
    assert str(second[11]) == "F"


def test_a_text_value_is_sent_as_st(make_oru: Callable[..., str]) -> None:
    msg = hl7.parse(make_oru([Obx("2823-3", "Potassium", "hemolyzed", "mmol/L", numeric=False)]))
    obx = msg.segment("OBX")
    assert (str(obx[2]), str(obx[5])) == ("ST", "hemolyzed")


def test_rde_fields_are_in_their_places(make_order: Callable[..., OrderMessage]) -> None:
    msg = hl7.parse(rde_o11(make_order(status="completed"), "MSG2"))
    assert str(msg.segment("MSH")[9]) == "RDE^O11^RDE_O11"
    orc = msg.segment("ORC")
    assert (str(orc[1]), str(orc[2]), str(orc[9])) == ("DC", "ORD5", "20250106083000+0000")
    tq1 = msg.segment("TQ1")
    assert (str(tq1[7]), str(tq1[8])) == ("20250106083000+0000", "20250106094510+0000")
    rxe = msg.segment("RXE")
    assert [str(c) for c in rxe[2][0]] == ["4603", "furosemide 40 mg IV", "RXNORM"]
    assert str(hl7.parse(rde_o11(make_order(status="cancelled"), "M")).segment("ORC")[1]) == "CA"


def test_adt_fields_are_in_their_places() -> None:
    text = adt_message(
        trigger="A03",
        control_id="M3",
        patient_id="MRN7",
        encounter_id="E42",
        location=("4W", "3", "B"),
        occurred=RELEASED,
    )
    msg = hl7.parse(text)
    assert str(msg.segment("MSH")[9]) == "ADT^A03^ADT_A03"
    assert str(msg.segment("EVN")[2]) == "20250106094510+0000"
    assert str(msg.segment("PV1")[19]) == "E42"
