"""MLLP frames off a byte stream: split and joined packets, stray bytes, missing end blocks, size limit."""

from __future__ import annotations

import asyncio

import pytest

from streams.edges.mllp_frames import Frame, FrameReader, FrameTooLarge

SB, EB = b"\x0b", b"\x1c\r"


async def frames_of(*chunks: bytes, limit: int = 1024) -> list[Frame | str]:
    """Everything a reader makes of these chunks, then "eof" (or "eof+partial") at the end."""
    reader = FrameReader(limit=limit)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    out: list[Frame | str] = []
    while True:
        try:
            out.append(await reader.readframe())
        except FrameTooLarge as exc:
            out.append(f"too large: {exc.size} bytes, head {exc.head[:10]!r}")
        except asyncio.IncompleteReadError as exc:
            out.append("eof+partial" if exc.partial.strip() else "eof")
            return out


def test_two_messages_in_one_packet_and_one_split_over_many() -> None:
    split = SB + b"MSH|3" + EB
    got = asyncio.run(
        frames_of(
            SB + b"MSH|1" + EB + SB + b"MSH|2" + EB, *[split[i : i + 2] for i in range(0, len(split), 2)]
        )
    )
    assert got == [Frame(b"MSH|1", 0, ()), Frame(b"MSH|2", 0, ()), Frame(b"MSH|3", 0, ()), "eof"]


def test_bytes_between_frames_are_skipped_and_counted_not_fatal() -> None:
    got = asyncio.run(frames_of(b"\r\nnoise" + SB + b"MSH|1" + EB + b"junk" + SB + b"MSH|2" + EB))
    assert got == [Frame(b"MSH|1", 7, ()), Frame(b"MSH|2", 4, ()), "eof"]


def test_a_message_without_end_block_is_reported_with_the_next_one() -> None:
    got = asyncio.run(frames_of(SB + b"MSH|lost" + SB + b"MSH|next" + EB))
    assert got == [Frame(b"MSH|next", 0, (b"MSH|lost",)), "eof"]


def test_end_of_stream_inside_a_message_is_an_incomplete_read() -> None:
    assert asyncio.run(frames_of(SB + b"MSH|1" + EB + SB + b"MSH|cut")) == [
        Frame(b"MSH|1", 0, ()),
        "eof+partial",
    ]


@pytest.mark.parametrize("size", [1100, 5000])
def test_an_oversized_message_is_discarded_and_the_next_one_read(size: int) -> None:
    big = SB + b"MSH|" + b"x" * size + EB
    got = asyncio.run(frames_of(big[:700], big[700:], SB + b"MSH|ok" + EB, limit=1024))
    assert got[0] == f"too large: {size + 4 + 2} bytes, head {b'MSH|xxxxxx'!r}"
    assert got[1:] == [Frame(b"MSH|ok", 0, ()), "eof"]
