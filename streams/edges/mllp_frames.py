"""MLLP frames off a python-hl7 stream reader, tolerant of what real interface engines send between them.

`hl7.mllp.HL7StreamReader.readblock` raises on a block that does not begin with the start block and so
loses the message that follows stray bytes; it also drops the size-limit overrun without telling the
caller which message it was. This reader keeps python-hl7's framing bytes, server and writer, and reads
each frame with the StreamReader primitives it is built on: skip to a start block, read to the end block.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hl7.mllp import HL7StreamReader
from hl7.mllp.streams import CARRIAGE_RETURN, END_BLOCK, START_BLOCK

_END = END_BLOCK + CARRIAGE_RETURN
# Enough of an oversized message to read its MSH (for the ACK's MSA-2) without keeping the rest.
_HEAD_KEPT = 4096


class FrameTooLarge(Exception):
    """A frame longer than the limit arrived; it was read to its end block and discarded."""

    def __init__(self, head: bytes, size: int) -> None:
        super().__init__(f"message of {size} bytes or more")
        self.head = head
        self.size = size


@dataclass(frozen=True, slots=True)
class Frame:
    """One message, plus what came before it: stray bytes skipped, and messages that never got an end block.

    A start block inside a frame means the sender began a new message before ending the previous one;
    each such unterminated message is in `unterminated` so it can be rejected rather than silently lost.
    """

    message: bytes
    skipped: int
    unterminated: tuple[bytes, ...]


class FrameReader(HL7StreamReader):
    """HL7StreamReader with `readframe`; its `limit` is the largest message accepted."""

    async def readframe(self) -> Frame:
        """The next frame; IncompleteReadError at end of stream, FrameTooLarge for an oversized message."""
        skipped = await self._skip_to_start()
        try:
            body = (await self.readuntil(_END))[: -len(_END)]
        except asyncio.LimitOverrunError as exc:
            head = await self.readexactly(exc.consumed)
            size = len(head) + await self._discard_to_end()
            raise FrameTooLarge(head[:_HEAD_KEPT], size) from None
        *unterminated, message = body.split(START_BLOCK)
        return Frame(
            message=message, skipped=skipped, unterminated=tuple(u for u in unterminated if u.strip())
        )

    async def _skip_to_start(self) -> int:
        skipped = 0
        while True:
            try:
                return skipped + len(await self.readuntil(START_BLOCK)) - 1
            except asyncio.LimitOverrunError as exc:
                skipped += len(await self.readexactly(exc.consumed))

    async def _discard_to_end(self) -> int:
        discarded = 0
        while True:
            try:
                return discarded + len(await self.readuntil(_END))
            except asyncio.LimitOverrunError as exc:
                discarded += len(await self.readexactly(exc.consumed))
