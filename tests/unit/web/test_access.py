"""Who may do what on the dashboard: the page signs in, the API answers 401, viewers cannot ack, CSRF."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from alerts.models import AlertEvent
from streams.web.access import Access, Caller
from streams.web.alert_book import AlertBook
from streams.web.api import DashboardState, create_app
from streams.web.oidc import OidcClient, RoleMap
from streams.web.session import LOGIN_COOKIE, SESSION_COOKIE, CookieCodec, LoginState, Role, new_session
from streams.web.tokens import Tokens, hash_token

pytestmark = pytest.mark.asyncio
ACK = "/api/alerts/kmg-1/ack"
MACHINE = {"Authorization": "Bearer pager-bridge-token"}


def _oidc_access() -> Access:
    client = OidcClient(
        issuer="https://idp.example",
        client_id="lytewatch",
        client_secret=None,
        scopes="openid profile",
        redirect_uri="http://127.0.0.1/auth/callback",
        roles=RoleMap("roles", frozenset({"ack"}), frozenset({"view"})),
    )
    tokens = Tokens(None, {"pager-bridge": hash_token("pager-bridge-token")})
    return Access("oidc", tokens, CookieCodec("k" * 32), 12.0, "http://127.0.0.1", client)


Sent = list[dict[str, Any]]


@pytest_asyncio.fixture
async def dashboard(
    make_event: Callable[..., AlertEvent],
) -> AsyncIterator[tuple[TestClient[Any, Any], Access, Sent]]:
    sent: Sent = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append(orjson.loads(value))

    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(make_event("kmg-1"))
    access = _oidc_access()
    async with TestClient(TestServer(create_app(state, send, access=access))) as client:
        yield client, access, sent


def _sign_in(client: TestClient[Any, Any], access: Access, role: Role) -> str:
    """Give the client Ada's session cookie as the callback would; return its CSRF token."""
    session = new_session("person", "ada.acker", "Ada Acker", role, now=time.time(), hours=1)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: access.cookies.seal_session(session)})
    return session.csrf


async def test_without_a_session_the_page_goes_to_sign_in_and_the_api_answers_401(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, _, sent = dashboard
    page = await client.get("/", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (302, "/auth/login?next=/")
    # That page only adds the address's #fragment (a notification link's alert) and goes on.
    start = await client.get("/auth/login?next=%2F")
    assert start.status == 200 and '<script src="/static/signin.js">' in await start.text()
    for path in ["/api/alerts", "/api/alerts/stream", "/api/alerts/kmg-1"]:
        response = await client.get(path)
        assert response.status == 401, path
        assert (await response.json())["error"] == "unauthorized"
    response = await client.post(ACK, json={"by": "Mallory"})
    assert response.status == 401
    assert sent == []


async def test_a_signed_in_acknowledger_acks_under_the_verified_identity_not_a_typed_name(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, access, sent = dashboard
    csrf = _sign_in(client, access, "acknowledger")
    assert (await client.get("/", allow_redirects=False)).status == 200
    me = await (await client.get("/auth/me")).json()
    assert (me["name"], me["subject"], me["role"], me["csrf_token"]) == (
        "Ada Acker",
        "ada.acker",
        "acknowledger",
        csrf,
    )
    assert me["needs_name"] is False
    response = await client.post(ACK, json={"by": "Mallory"}, headers={"X-CSRF-Token": csrf})
    assert response.status == 202, await response.text()
    assert [a["by"] for a in sent] == ["Ada Acker (ada.acker)"]


@pytest.mark.parametrize("header", [None, "", "wrong-token"])
async def test_a_post_with_the_cookie_but_without_its_csrf_token_is_refused(
    dashboard: tuple[TestClient[Any, Any], Access, Sent], header: str | None
) -> None:
    client, access, sent = dashboard
    _sign_in(client, access, "acknowledger")
    headers = {} if header is None else {"X-CSRF-Token": header}
    response = await client.post(ACK, json={}, headers=headers)
    assert response.status == 403
    assert (await response.json())["error"] == "csrf"
    assert sent == []


async def test_a_viewer_sees_alerts_but_cannot_acknowledge(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, access, sent = dashboard
    csrf = _sign_in(client, access, "viewer")
    assert (await client.get("/api/alerts")).status == 200
    response = await client.post(ACK, json={}, headers={"X-CSRF-Token": csrf})
    assert response.status == 403
    assert "viewer" in (await response.json())["detail"]
    assert sent == []


async def test_a_machine_token_acks_under_its_name_and_needs_no_csrf_token(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, _, sent = dashboard
    response = await client.post(ACK, json={"by": "Mallory"}, headers=MACHINE)
    assert response.status == 202
    assert [a["by"] for a in sent] == ["pager-bridge"]
    wrong = await client.get("/api/alerts", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401


async def test_no_token_in_the_stream_url_is_accepted(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, _, _ = dashboard
    assert (await client.get("/api/alerts/stream?token=pager-bridge-token")).status == 401


async def test_a_session_of_another_mode_or_key_is_not_a_session(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, access, _ = dashboard
    token_page = new_session(
        "shared", "shared token", "shared token", "acknowledger", now=time.time(), hours=1
    )
    forged = CookieCodec("z" * 32).seal_session(
        new_session("person", "ada", "Ada", "acknowledger", now=time.time(), hours=1)
    )
    for value in [access.cookies.seal_session(token_page), forged]:
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: value})
        assert (await client.get("/api/alerts")).status == 401


async def test_an_ack_by_a_person_records_name_and_subject_made_inert_and_bounded() -> None:
    person = Caller("person", "Ada\u202e Acker\r\n", "ada.acker", can_acknowledge=True)
    by = person.acknowledged_by("typed")
    assert by is not None and by.endswith("(ada.acker)") and "\u202e" not in by and "\r" not in by
    long = Caller("person", "N" * 500, "s" * 300, can_acknowledge=True).acknowledged_by(None)
    assert long is not None and len(long) <= 200
    assert Caller("machine", "bridge", "bridge", can_acknowledge=True).acknowledged_by("typed") == "bridge"
    assert Caller("anonymous", None, None, can_acknowledge=True).acknowledged_by("typed") == "typed"


async def test_a_callback_without_its_login_state_or_from_another_provider_signs_nobody_in(
    dashboard: tuple[TestClient[Any, Any], Access, Sent],
) -> None:
    client, access, _ = dashboard
    login = LoginState("st", "n", "v" * 43, "/", int(time.time()) + 600)
    for query, cookie in [
        ("code=c&state=st", None),  # no login-state cookie: started elsewhere (login CSRF)
        ("code=c&state=other", access.cookies.seal_login(login)),  # state does not match
        ("code=c&state=st&iss=https://evil.example", access.cookies.seal_login(login)),  # mix-up
        ("error=access_denied&state=st", access.cookies.seal_login(login)),
    ]:
        client.session.cookie_jar.clear()
        if cookie is not None:
            client.session.cookie_jar.update_cookies({LOGIN_COOKIE: cookie})
        response = await client.get(f"/auth/callback?{query}")
        assert response.status == 400, query
        assert SESSION_COOKIE not in response.cookies
    me = await (await client.get("/auth/me")).json()
    assert (me["mode"], me["signed_in"], me["csrf_token"]) == ("oidc", False, None)


async def test_in_token_mode_the_page_trades_its_token_for_a_session_cookie(
    make_event: Callable[..., AlertEvent],
) -> None:
    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(make_event("kmg-1"))
    app = create_app(state, _no_ack, named_tokens={"ward-screen": hash_token("screen-token")})
    async with TestClient(TestServer(app)) as client:
        refused = await client.post("/auth/token", json={}, headers={"Authorization": "Bearer wrong"})
        assert refused.status == 401
        traded = await client.post("/auth/token", json={}, headers={"Authorization": "Bearer screen-token"})
        assert traded.status == 200
        me = await traded.json()
        assert (me["kind"], me["name"], me["needs_name"]) == ("token", "ward-screen", False)
        cookie = traded.cookies[SESSION_COOKIE]
        assert (cookie["httponly"], cookie["secure"], cookie["samesite"]) == (True, True, "Strict")
        # The stream runs on the cookie alone (aiohttp's jar keeps Secure cookies for https: hand it over).
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie.value})
        stream = await client.get("/api/alerts/stream")
        assert stream.status == 200
        stream.close()


async def _no_ack(key: bytes, value: bytes) -> None:
    raise AssertionError("no acknowledgement in this test")


async def test_without_sign_in_a_stray_authorization_header_changes_nothing(
    make_event: Callable[..., AlertEvent],
) -> None:
    state = DashboardState(book=AlertBook(), caught_up=True)
    app = create_app(state, _no_ack)  # mode none: loopback only
    async with TestClient(TestServer(app)) as client:
        for headers in [{}, {"Authorization": "Bearer stale"}, {"Authorization": "Basic eDp5"}]:
            assert (await client.get("/api/alerts", headers=headers)).status == 200, headers
        me = await (await client.get("/auth/me")).json()
        assert (me["mode"], me["can_acknowledge"], me["needs_name"]) == ("none", True, True)
