"""Format detection and the single decode entry point for every input topic."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import orjson

from alerts.codes import CodeMapping
from alerts.errors import AlertsError, DeadLetterReason
from streams.codecs.base import Decoded, Format
from streams.codecs.fast import certainly_ignored, ignored_oru
from streams.codecs.fhir import decode_fhir
from streams.codecs.hl7v2 import decode_hl7
from streams.codecs.limits import within_limits
from streams.codecs.native import decode_native
from streams.errors import DecodeError
from streams.topic_registry import InputKind

_BOM = b"\xef\xbb\xbf"
_HL7_STARTS = (b"MSH", b"FHS", b"BHS")
# What the full decode makes of a native message with one item we do not watch (immutable, so shared).
_IGNORED_JSON = Decoded(format="json", events=(), ignored=1, rejected=())


def detect(raw: bytes) -> Format:
    """Which format a message is in, from its first bytes: ER7 text starts with MSH, JSON with '{'.

    A FHIR resource is JSON too; it is told apart from native JSON by its `resourceType` after parsing,
    so this returns "json" for both.
    """
    head = raw[:16].lstrip(_BOM).lstrip()
    return "hl7v2" if head.startswith(_HL7_STARTS) else "json"


def _decode(
    kind: InputKind, raw: bytes, tz: tzinfo, mapping: CodeMapping, parsed: dict[str, Any] | None
) -> Decoded:
    if parsed is not None:
        return _decode_object(kind, parsed, tz, mapping)
    # Most messages are JSON that starts at its first byte: no need to look further.
    if raw[:1] != b"{" and detect(raw) == "hl7v2":
        if kind == "acks":
            raise DecodeError(DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE, "acks are accepted as JSON only")
        body = raw.lstrip(_BOM).lstrip()
        if body.startswith((b"FHS", b"BHS")):
            raise DecodeError(
                DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE, "HL7 batch files: send one message a record"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # Many HL7 feeds are Latin-1; every byte string is valid Latin-1, so this never fails.
            text = body.decode("latin-1")
        ignored = ignored_oru(kind, text, mapping)
        return ignored if ignored is not None else decode_hl7(kind, text, tz=tz, mapping=mapping)
    try:
        obj: Any = orjson.loads(raw.removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise DecodeError(DeadLetterReason.NOT_JSON, f"neither JSON nor HL7 v2: {exc}") from None
    return _decode_object(kind, obj, tz, mapping)


def _decode_object(kind: InputKind, obj: Any, tz: tzinfo, mapping: CodeMapping) -> Decoded:
    if not isinstance(obj, dict):
        top = type(obj).__name__
        raise DecodeError(DeadLetterReason.SCHEMA_ERROR, f"top level is a JSON {top}, not an object")
    if "resourceType" in obj:
        if kind == "acks":
            raise DecodeError(
                DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE, "acks are accepted as native JSON only"
            )
        return decode_fhir(kind, obj, tz=tz, mapping=mapping)
    if certainly_ignored(kind, obj, tz=tz, mapping=mapping):
        return _IGNORED_JSON
    return decode_native(kind, obj, tz=tz, mapping=mapping)


def decode(
    kind: InputKind,
    raw: bytes,
    *,
    tz: tzinfo,
    mapping: CodeMapping,
    parsed: dict[str, Any] | None = None,
) -> Decoded:
    """Decode, validate and normalise one input message read from the topic of `kind`.

    Raises only DecodeError, for a message that is wholly unusable (including one whose watched items
    were all rejected). Watched items rejected next to usable ones come back in `Decoded.rejected`.
    Ids and free text over the limits of streams.codecs.limits are rejected as schema_error.
    `parsed`: the JSON object `raw` holds, when the caller has parsed it already (the replay file's lines
    carry it parsed); it is decoded as if from `raw`, without parsing that again.
    """
    try:
        return within_limits(_decode(kind, raw, tz, mapping, parsed))
    except DecodeError:
        raise
    except AlertsError as exc:
        reason = getattr(exc, "reason", DeadLetterReason.SCHEMA_ERROR)
        raise DecodeError(reason, str(exc)) from exc
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        # A bug or an input nobody foresaw must still end as a dead letter, not kill the agent.
        raise DecodeError(
            DeadLetterReason.SCHEMA_ERROR, f"internal decoder error ({type(exc).__name__}): {exc}"
        ) from exc
