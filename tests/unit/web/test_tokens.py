"""Named machine tokens: stored as hashes, several at once, and the name is who an ack comes from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from streams.settings import SettingsError, load_settings
from streams.web.alert_book import AlertBook
from streams.web.api import DashboardState, create_app
from streams.web.tokens import Tokens, hash_token
from tests.unit.notifier.alert_factory import build_alert

JSON = {"Content-Type": "application/json"}


class Acks:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append(orjson.loads(value))


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], Acks]]:
    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(build_alert(alert_id="kmg-1"))
    acks = Acks()
    named = {"lab-robot": hash_token("robot-secret"), "ward-display": hash_token("display-secret")}
    app = create_app(state, acks.send, token="shared-secret", named_tokens=named)
    async with TestClient(TestServer(app)) as client:
        yield client, acks


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.asyncio
async def test_each_named_token_and_the_shared_one_are_accepted_and_others_not(
    served: tuple[TestClient[Any, Any], Acks],
) -> None:
    client, _ = served
    for token in ("robot-secret", "display-secret", "shared-secret"):
        assert (await client.get("/api/alerts", headers=bearer(token))).status == 200, token
    for token in ("", "robot", hash_token("robot-secret"), "robot-secret-"):
        assert (await client.get("/api/alerts", headers=bearer(token))).status == 401, token


@pytest.mark.asyncio
async def test_an_ack_with_a_named_token_is_by_that_name_not_the_typed_one(
    served: tuple[TestClient[Any, Any], Acks],
) -> None:
    client, acks = served
    body = b'{"by": "Dr Anyone", "note": null}'
    robot = await client.post("/api/alerts/kmg-1/ack", data=body, headers=JSON | bearer("robot-secret"))
    assert robot.status == 202
    assert (await robot.json())["by"] == "lab-robot"
    shared = await client.post("/api/alerts/kmg-1/ack", data=body, headers=JSON | bearer("shared-secret"))
    assert shared.status == 202
    assert [a["by"] for a in acks.sent] == ["lab-robot", "Dr Anyone"]


def test_tokens_compare_hashes_only() -> None:
    tokens = Tokens(None, {"a": hash_token("x")})
    assert tokens.required
    assert tokens.identify("x") is not None and tokens.identify("x").name == "a"  # type: ignore[union-attr]
    assert tokens.identify(hash_token("x")) is None
    assert not Tokens().required


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"robot": "plaintext-token"}', "expected sha256:<64 hex digits>"),
        ('{"a robot": "' + hash_token("x") + '"}', "letters, digits and . _ - only"),
        ("{not json", "expected JSON"),
    ],
)
def test_named_tokens_must_be_hashes_under_plain_names(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"LYTEWATCH_DASHBOARD_TOKENS": value})
    assert message in str(info.value)
    assert "plaintext-token" not in str(info.value)


def test_named_tokens_alone_let_the_dashboard_serve_other_machines() -> None:
    settings = load_settings(
        {
            "LYTEWATCH_DASHBOARD_HOST": "0.0.0.0",
            "LYTEWATCH_DASHBOARD_TOKENS": f'{{"robot": "{hash_token("x")}"}}',
        }
    )
    assert settings.dashboard_tokens == {"robot": hash_token("x")}
