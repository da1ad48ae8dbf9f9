"""The one-scan check of unsafe characters finds exactly the characters `is_unsafe` names, first one first."""

from __future__ import annotations

from alerts.text import REPLACEMENT, first_unsafe, inert, is_unsafe


def test_every_code_point_is_judged_as_is_unsafe_judges_it() -> None:
    differ = [cp for cp in range(0x110000) if (first_unsafe(chr(cp)) is not None) != is_unsafe(chr(cp))]
    assert differ == []


def test_the_first_unsafe_character_is_named_with_its_position() -> None:
    assert first_unsafe("MRN-0021") is None
    assert first_unsafe("MRN\u202e0021\x00") == (3, "U+202E")
    assert first_unsafe("bed 4\r\n") == (5, "U+000D")
    assert first_unsafe("\ud800") == (0, "U+D800")


def test_inert_replaces_each_unsafe_character() -> None:
    assert inert("a\tb\u2028c\u202ed") == f"a{REPLACEMENT}b{REPLACEMENT}c{REPLACEMENT}d"
