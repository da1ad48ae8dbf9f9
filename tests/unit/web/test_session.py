"""The session and sign-in cookies round-trip; a tampered, expired, foreign or swapped one is nothing."""

from __future__ import annotations

import base64

import pytest

from streams.web.session import CookieCodec, LoginState, Session, new_session

NOW = 1_800_000_000.0


@pytest.fixture
def codec() -> CookieCodec:
    return CookieCodec("a" * 32)


def _session() -> Session:
    return new_session("person", "ada.acker", "Ada Acker", "acknowledger", now=NOW, hours=12)


def test_a_session_round_trips_with_its_own_csrf_token(codec: CookieCodec) -> None:
    session = _session()
    opened = codec.open_session(codec.seal_session(session), NOW + 60)
    assert opened == session
    assert opened.expires_at == NOW + 12 * 3600
    assert len(session.csrf) >= 32
    assert _session().csrf != session.csrf


def test_the_cookie_does_not_show_who_is_signed_in(codec: CookieCodec) -> None:
    sealed = codec.seal_session(_session())
    readable = "".join(
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("latin-1")
        for part in sealed.split(".")
    )
    assert "Ada" not in readable and "ada.acker" not in readable


def test_an_expired_session_is_nothing(codec: CookieCodec) -> None:
    sealed = codec.seal_session(_session())
    assert codec.open_session(sealed, NOW + 12 * 3600 - 1) is not None
    assert codec.open_session(sealed, NOW + 12 * 3600) is None


@pytest.mark.parametrize("position", [0, 40, 60, -5])
def test_a_tampered_cookie_is_nothing(codec: CookieCodec, position: int) -> None:
    sealed = codec.seal_session(_session())
    index = position % len(sealed)
    flipped = "A" if sealed[index] != "A" else "B"
    tampered = sealed[:index] + flipped + sealed[index + 1 :]
    assert codec.open_session(tampered, NOW) is None


def test_a_cookie_sealed_with_another_secret_or_garbage_is_nothing(codec: CookieCodec) -> None:
    other = CookieCodec("b" * 32).seal_session(_session())
    assert codec.open_session(other, NOW) is None
    for junk in ["", "x", "a.b.c.d.e", "eyJhbGciOiJub25lIn0.e30."]:
        assert codec.open_session(junk, NOW) is None
    assert codec.open_session(None, NOW) is None


def test_a_login_state_cookie_is_not_a_session_and_back(codec: CookieCodec) -> None:
    login = LoginState("s" * 43, "n" * 43, "v" * 64, "/#/patients/P1", int(NOW + 600))
    sealed_login = codec.seal_login(login)
    assert codec.open_login(sealed_login, NOW) == login
    assert codec.open_session(sealed_login, NOW) is None
    assert codec.open_login(codec.seal_session(_session()), NOW) is None
    assert codec.open_login(sealed_login, NOW + 600) is None
