"""A progress bar on stderr for long commands, drawn by rich only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

Report = Callable[[int], None]


def count_lines(path: str) -> int | None:
    """Lines in a file (the bar's total), or None for standard input."""
    if path == "-":
        return None
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
    return total


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, stream: TextIO | None = None) -> Iterator[Report | None]:
    """A callback taking the number of lines done, or None when `stream` (stderr) is not a terminal:
    pipes, files and CI logs get no bar and no escape codes."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lines"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)
        if total is not None:
            bar.update(task, completed=total)
