"""The one way tests wait: poll a condition until it holds, and fail naming what never happened.

A hang guard, never a speed test: limits are generous because the machine is shared and loaded.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class _Deadline:
    def __init__(self, what: str, within: float, alive: Callable[[], str | None] | None) -> None:
        self.what, self.within, self.alive = what, within, alive
        self.end = time.monotonic() + within
        self.last: object = None

    def check(self, value: object) -> bool:
        """True when `value` says the condition holds; raises when a watched process died or time is up."""
        if value:
            return True
        if self.alive is not None and (death := self.alive()) is not None:
            raise AssertionError(f"gave up waiting for {self.what}: {death}")
        if value is not None:
            self.last = value
        if time.monotonic() > self.end:
            raise AssertionError(
                f"gave up waiting for {self.what} after {self.within:.0f} s (last: {self.last!r})"
            )
        return False


def eventually(
    check: Callable[[], T],
    what: str,
    *,
    within: float = 60.0,
    interval: float = 0.2,
    alive: Callable[[], str | None] | None = None,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call `check()` until it returns something truthy, and return that.

    `alive` (optional) says why waiting is pointless (e.g. the process died, with its log), or None.
    `ignore`: exceptions that mean "not yet" (a server not listening yet raises OSError).
    """
    deadline = _Deadline(what, within, alive)
    while True:
        try:
            value = check()
        except ignore as exc:
            value = None
            deadline.last = exc
        if deadline.check(value):
            return value
        time.sleep(interval)


async def async_eventually(
    check: Callable[[], T | Awaitable[T]],
    what: str,
    *,
    within: float = 60.0,
    interval: float = 0.05,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """`eventually` for async tests: `check` may be a plain or an async function; the loop keeps running."""
    deadline = _Deadline(what, within, alive)
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if deadline.check(value):
            return value  # type: ignore[return-value]
        await asyncio.sleep(interval)
