"""Progress on long work (simulate, publish, rebuild), drawn by rich on stderr: a bar when
the total is known, a count and a rate when it is not. Quiet when stderr is not a terminal
but for one closing line, so logs and CI output stay readable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


class Advance(Protocol):
    def __call__(self, n: int = 1) -> None: ...


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Advance]:
    """``with progress("publishing", len(records)) as advance: … advance(k)``."""
    if total is None:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,} records"),
            TimeElapsedColumn(),
        )
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
    with Progress(
        *columns, console=_console, transient=False, disable=not _console.is_terminal
    ) as bar:
        task = bar.add_task(label, total=total)
        done = [0]

        def advance(n: int = 1) -> None:
            done[0] += n
            bar.advance(task, n)

        yield advance
    if not _console.is_terminal:
        counted = f"{done[0]:,}" + (f"/{total:,}" if total is not None else "")
        _console.print(f"{label}: {counted if done[0] or total else 'done'}")
