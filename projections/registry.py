"""The explicit handler registry: event type → the small functions that project it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from schemas.envelope import Envelope

if TYPE_CHECKING:
    from projections.changes import Changes
    from projections.resolve import Resolver

Handler = Callable[[Envelope, "Resolver", "Changes"], None]
Summarizer = Callable[[Envelope], str]

HANDLERS: dict[str, list[Handler]] = {}
SUMMARIES: dict[str, Summarizer] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS.setdefault(t, []).append(fn)
        return fn

    return register


def summarizes(etype: str) -> Callable[[Summarizer], Summarizer]:
    def register(fn: Summarizer) -> Summarizer:
        SUMMARIES[etype] = fn
        return fn

    return register
