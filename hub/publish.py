"""Sending CloudEvents to the agency topics from the command line: a JSON-lines file
(``civic-hub publish``), a simulated city or the demo's story."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import orjson

from hub.bootstrap import start_producer
from hub.config import Settings
from hub.progress import progress
from schemas.topics import agency_topic


async def publish_records(
    settings: Settings,
    records: list[tuple[str, bytes, bytes]],
    rate: float = 0.0,
    label: str = "publishing",
    show: bool = True,
) -> int:
    """Send (topic, key, value) records with acks=all; at ``rate`` events/s when given, else
    as fast as the broker takes them, with a progress bar on stderr (``show``)."""
    producer = await start_producer(settings, "publisher")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    step = max(1, int(rate / 20)) if rate else 10_000
    try:
        with progress(label, len(records)) if show else nullcontext(_ignore) as advance:
            pending = []
            for i, (topic, key, value) in enumerate(records, 1):
                pending.append(await producer.send(topic, value, key=key))
                if i % step == 0 or i == len(records):
                    for f in pending:
                        await f
                    advance(len(pending))
                    pending.clear()
                    if rate:
                        delay = t0 + i / rate - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
    finally:
        await producer.stop()
    return len(records)


def _ignore(n: int = 1) -> None:
    """No progress to show."""


def as_records(events: list[dict[str, Any]]) -> list[tuple[str, bytes, bytes]]:
    return [
        (agency_topic(e["agency"]), str(e["subject"]).encode(), orjson.dumps(e)) for e in events
    ]


def read_jsonl(path: Path, agencies: tuple[str, ...]) -> Iterator[tuple[int, str, bytes, bytes]]:
    """Lines of a JSON-lines file as (line number, topic, key, value). Routing needs the
    ``agency`` attribute; everything else is the hub's intake's job to check."""
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            agency = doc.get("agency") if isinstance(doc, dict) else None
            if agency not in agencies:
                raise ValueError(f"{path}:{n}: 'agency' must be one of {', '.join(agencies)}")
            yield n, agency_topic(agency), str(doc.get("subject", "")).encode(), line


async def publish_file(settings: Settings, path: Path) -> int:
    lines = list(read_jsonl(path, settings.agencies))  # refuse the file before sending any
    n = await publish_records(settings, [(t, k, v) for _n, t, k, v in lines])
    print(f"published {n} events from {path}", flush=True)
    return 0
