"""What the MLLP listener does with one HL7 message: which topic it goes to, and the HL7 ACK it answers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import StrEnum

import hl7

from streams.codecs.hl7v2 import read_header
from streams.errors import DecodeError

# The message types the worker's decoder takes, by input kind (EVENTS.md); anything else is rejected
# at the edge so that the sender, not our dead-letter topic, learns about it.
ACCEPTED: dict[tuple[str, str], str] = {
    ("ORU", "R01"): "labs",
    ("RDE", "O11"): "orders",
    ("RDE", "O01"): "orders",
    ("ADT", "A01"): "adt",
    ("ADT", "A02"): "adt",
    ("ADT", "A03"): "adt",
    ("ADT", "A08"): "adt",
}
#: Label values of the message-type metric: the accepted types, then these two.
NOT_HL7 = "not_hl7"
OTHER_TYPE = "other"
MESSAGE_TYPE_LABELS = (*(f"{t}^{e}" for t, e in ACCEPTED), NOT_HL7, OTHER_TYPE)

# Used for the ACK of something that has no usable MSH of its own.
_FALLBACK_MSH = "MSH|^~\\&|||||||^||P|2.5"


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


class ErrorCode(StrEnum):
    """HL7 table 0357, the ERR-3 codes we use."""

    SEGMENT_SEQUENCE = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE = "102"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT = "201"
    INTERNAL = "207"


_ERROR_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.INTERNAL: "Application internal error",
}


@dataclass(frozen=True, slots=True)
class Routed:
    """A message to store: its input kind (labs, orders, adt), Kafka key and metric label."""

    kind: str
    key: bytes
    label: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message refused with AR: why, in the ERR segment's words."""

    code: ErrorCode
    text: str
    label: str


def as_text(raw: bytes) -> str:
    """The message as the worker's decoder reads it: UTF-8, else Latin-1 (which never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def route(raw: bytes) -> Routed | Rejected:
    """Decide where one received message goes, reading MSH-9 and PID-3 with the worker's own decoder."""
    text = as_text(raw).lstrip("\ufeff \t\r\n")
    if not text.startswith("MSH"):
        return Rejected(
            ErrorCode.SEGMENT_SEQUENCE, "not an HL7 v2 message: it does not start with MSH", NOT_HL7
        )
    try:
        header = read_header(text)
    except DecodeError as exc:
        return Rejected(ErrorCode.DATA_TYPE, f"not parseable as HL7 v2: {exc.detail}", NOT_HL7)
    shown = f"{header.message_type or '?'}^{header.trigger or '?'}"
    kind = ACCEPTED.get((header.message_type, header.trigger))
    if kind is None:
        known_type = any(t == header.message_type for t, _ in ACCEPTED)
        code = ErrorCode.UNSUPPORTED_EVENT if known_type else ErrorCode.UNSUPPORTED_MESSAGE_TYPE
        accepted = ", ".join(f"{t}^{e}" for t, e in ACCEPTED)
        return Rejected(code, f"MSH-9 {shown} is not taken here (accepted: {accepted})", OTHER_TYPE)
    if not header.patient_id:
        return Rejected(ErrorCode.REQUIRED_FIELD_MISSING, "PID-3: no patient identifier", shown)
    return Routed(kind=kind, key=header.patient_id.encode(), label=shown)


def _source_msh(raw: bytes | None) -> hl7.Message:
    """The received MSH as python-hl7 reads it (for its ACK), or a neutral one if there is none."""
    if raw is not None:
        text = as_text(raw).lstrip("\ufeff \t\r\n")
        first = text.replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0]
        if first.startswith("MSH") and len(first) > 8:
            try:
                return hl7.parse(first)
            except (hl7.ParseException, ValueError, IndexError):
                pass
    return hl7.parse(_FALLBACK_MSH)


def build_ack(raw: bytes | None, code: AckCode, error: tuple[ErrorCode, str] | None = None) -> bytes:
    """The original-mode ACK of `raw` (MSA-2 = its MSH-10), with an ERR segment for AE and AR."""
    source = _source_msh(raw)
    # python-hl7 0.4.5 stamps MSH-7 with datetime.utcnow(), deprecated since Python 3.12 (same value).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            ack = source.create_ack(str(code), application=str(source.segment("MSH")(5)) or "LYTEWATCH")
        except (TypeError, IndexError, KeyError):
            # An MSH-9 without components or similar: answer from the neutral header (MSA-2 then empty).
            source = hl7.parse(_FALLBACK_MSH)
            ack = source.create_ack(str(code), application="LYTEWATCH")
    segments = [str(ack).rstrip("\r")]
    if error is not None:
        err_code, text = error
        escaped = source.escape(text)
        # MSA-3 (text) for v2.3 senders, ERR-3/4/8 (code, severity, user message) for v2.5+.
        segments[0] += f"|{escaped}"
        segments.append(f"ERR|||{err_code.value}^{_ERROR_TEXT[err_code]}^HL70357|E||||{escaped}")
    return ("\r".join(segments) + "\r").encode("utf-8")
