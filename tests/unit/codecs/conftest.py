"""Factory fixtures of input messages in each format (builders: tests/support/messages.py) and a decoder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import orjson
import pytest

from alerts.codes import DEFAULT_MAPPING
from streams.codecs import Decoded, InputKind, decode
from streams.errors import DecodeError
from tests.support import messages
from tests.support.messages import BERLIN


@pytest.fixture
def decode_msg() -> Callable[..., Decoded]:
    """decode() with the built-in mapping and Europe/Berlin as the hospital time zone, unless given."""

    def run(
        kind: InputKind, raw: bytes | str | dict[str, Any], *, tz: tzinfo = BERLIN, mapping: Any = None
    ) -> Decoded:
        mapping = mapping or DEFAULT_MAPPING
        if isinstance(raw, dict):
            # Every JSON object is decoded twice, as bytes and as the object the replay has parsed already
            # (`parsed`): the two must agree, dead letters included.
            parsed = _outcome(lambda: decode(kind, orjson.dumps(raw), tz=tz, mapping=mapping, parsed=raw))
            raw = orjson.dumps(raw)
            assert _outcome(lambda: decode(kind, raw, tz=tz, mapping=mapping)) == parsed
        elif isinstance(raw, str):
            raw = raw.encode("utf-8")
        return decode(kind, raw, tz=tz, mapping=mapping)

    return run


def _outcome(run: Callable[[], Decoded]) -> object:
    try:
        return run()
    except DecodeError as exc:
        return (exc.reason, exc.detail)


@pytest.fixture
def lab_json() -> Callable[..., dict[str, Any]]:
    return messages.lab_json


@pytest.fixture
def order_json() -> Callable[..., dict[str, Any]]:
    return messages.order_json


@pytest.fixture
def oru() -> Callable[..., str]:
    return messages.oru


@pytest.fixture
def rde() -> Callable[..., str]:
    return messages.rde


@pytest.fixture
def adt() -> Callable[..., str]:
    return messages.adt


@pytest.fixture
def observation() -> Callable[..., dict[str, Any]]:
    return messages.observation


@pytest.fixture
def medication_request() -> Callable[..., dict[str, Any]]:
    return messages.medication_request
