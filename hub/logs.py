"""structlog set up once per process: JSON lines on stderr, event ids bound by callers."""

from __future__ import annotations

import logging
import os
import sys

import orjson
import structlog


def _dumps(obj: object, default: object = None) -> str:
    return orjson.dumps(obj, default=default).decode()  # type: ignore[arg-type]


def configure(level: str | None = None, process: str | None = None) -> None:
    lvl = getattr(logging, (level or os.environ.get("HUB_LOG_LEVEL") or "INFO").upper())
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    if process:
        structlog.contextvars.bind_contextvars(process=process)
