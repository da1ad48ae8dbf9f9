"""Where each HL7 message goes and the ACK it gets: AA, AE and AR with ERR, echoing MSH-10."""

from __future__ import annotations

import hl7
import pytest

from streams.edges.hl7_ack import AckCode, ErrorCode, Rejected, Routed, build_ack, route
from tests.support.edges import example_messages

ORU = (
    b"MSH|^~\\&|LAB|HOSP|LW|HOSP|20260301100000||ORU^R01^ORU_R01|C123|P|2.5.1\r"
    b"PID|1||MRN1^^^H^MR~OTHER^^^X||DOE^J\rOBR|1|P|F|x|||202603010900\r"
)


def test_the_example_messages_go_to_their_topics_keyed_by_pid3() -> None:
    routed = [route(m) for m in example_messages()]
    assert routed == [
        Routed("adt", b"MRN-EDGE-1", "ADT^A01"),
        Routed("orders", b"MRN-EDGE-1", "RDE^O11"),
        Routed("labs", b"MRN-EDGE-1", "ORU^R01"),
        Routed("adt", b"MRN-EDGE-1", "ADT^A08"),
    ]


def test_pid3_first_repetition_is_the_key() -> None:
    assert route(ORU) == Routed("labs", b"MRN1", "ORU^R01")


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        (b"hello world", ErrorCode.SEGMENT_SEQUENCE, "does not start with MSH"),
        (b'{"resourceType": "Observation"}', ErrorCode.SEGMENT_SEQUENCE, "does not start with MSH"),
        (
            b"MSH|^~\\&|A|B|C|D|x||ORU^R01|C1|P|2.5\rPID|1||MRN\r\x01\x02",
            ErrorCode.DATA_TYPE,
            "not parseable",
        ),
        (ORU.replace(b"ORU^R01", b"ADT^A04"), ErrorCode.UNSUPPORTED_EVENT, "ADT^A04 is not taken"),
        (ORU.replace(b"ORU^R01", b"SIU^S12"), ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "SIU^S12 is not taken"),
        (ORU.replace(b"MRN1^^^H^MR~OTHER^^^X", b""), ErrorCode.REQUIRED_FIELD_MISSING, "PID-3"),
    ],
)
def test_what_we_do_not_take_is_rejected_with_a_reason(raw: bytes, code: ErrorCode, words: str) -> None:
    decision = route(raw)
    assert isinstance(decision, Rejected), decision
    assert decision.code == code and words in decision.text


def test_aa_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    ack = hl7.parse(build_ack(ORU, AckCode.ACCEPT).decode())
    msh = ack.segment("MSH")
    assert (str(msh(3)), str(msh(4)), str(msh(5)), str(msh(6))) == ("LW", "HOSP", "LAB", "HOSP")
    assert str(msh(9)) == "ACK^R01^ACK" and str(msh(12)) == "2.5.1"
    assert str(ack.segment("MSA")(1)) == "AA" and str(ack.segment("MSA")(2)) == "C123"
    with pytest.raises(KeyError):
        ack.segment("ERR")


def test_ae_and_ar_carry_an_err_segment_with_code_and_escaped_text() -> None:
    raw = build_ack(ORU, AckCode.ERROR, (ErrorCode.INTERNAL, "broker down | retry ^ later"))
    ack = hl7.parse(raw.decode())
    assert str(ack.segment("MSA")(1)) == "AE" and str(ack.segment("MSA")(2)) == "C123"
    err = ack.segment("ERR")
    assert str(err(3)) == "207^Application internal error^HL70357"
    assert str(err(4)) == "E"
    assert ack.unescape(str(err(8))) == "broker down | retry ^ later"


def test_garbage_gets_an_ar_from_a_neutral_header() -> None:
    ack = hl7.parse(
        build_ack(b"\x00garbage", AckCode.REJECT, (ErrorCode.SEGMENT_SEQUENCE, "no MSH")).decode()
    )
    assert str(ack.segment("MSA")(1)) == "AR"
    assert str(ack.segment("MSH")(3)) == "LYTEWATCH"
    assert str(ack.segment("ERR")(3)).startswith("100^")
