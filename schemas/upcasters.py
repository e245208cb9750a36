"""Upcasters: old versions of an event type are read as the newest, never rewritten.

An upcaster takes the ``data`` of version N and returns the ``data`` of version N+1. The
log and the event archive keep what the agency sent; handlers see the newest shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(etype: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(etype, from_version)] = fn
        return fn

    return register


@upcaster("city.case.reported", 1)
def _city_case_reported_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 had no urgency; cities treated every report as normal until v2 let them say otherwise.
    return {**data, "urgency": "normal"}


def upcast_data(etype: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply upcasters from ``version`` on; returns the version reached and its data."""
    while (etype, version) in UPCASTERS:
        data = UPCASTERS[(etype, version)](data)
        version += 1
    return version, data
