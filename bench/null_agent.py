"""Baselines for bench/throughput.py, as faust agents over the agency topics:

- ``null``: does nothing but count (batches via take_events, like the live worker);
- ``naive``: upserts each event into PostgreSQL with its own round trip and commit.

Run: BENCH_MODE=null|naive BENCH_N=… BENCH_OUT=file python -m bench.null_agent worker --without-web
It writes "<events> <seconds from first to last event>" to BENCH_OUT and exits.
"""

from __future__ import annotations

import os
import time

import asyncpg
import faust
import orjson

from hub.config import load_settings

settings = load_settings()
MODE = os.environ.get("BENCH_MODE", "null")
N = int(os.environ.get("BENCH_N", "100000"))
OUT = os.environ.get("BENCH_OUT", "/tmp/bench-null.txt")

app = faust.App(
    f"bench.{MODE}.{os.getpid()}",
    broker=[f"hubkafka://{h}" for h in (settings.kafka_bootstrap or "").split(",")],  # as the hub
    value_serializer="raw",
    key_serializer="raw",
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    topic_allow_declare=False,
    topic_disable_leader=True,
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=1.5,
    datadir=f"/tmp/bench-faust-{os.getpid()}",
    stream_buffer_maxsize=8192,
)
topic = app.topic(*settings.inbound_topics, value_serializer="raw", key_serializer="raw")


def finish(count: int, first: float, first_count: int) -> None:
    with open(OUT, "w") as f:
        f.write(f"{count - first_count} {time.perf_counter() - first}\n")
    os._exit(0)


@app.agent(topic)
async def run(stream: faust.StreamT[bytes]) -> None:
    count, first, first_count = 0, 0.0, 0
    if MODE == "null":
        async for events in stream.take_events(2000, within=0.2):
            count += len(events)
            if not first:
                first, first_count = time.perf_counter(), count
            if count >= N:
                finish(count, first, first_count)
    else:
        conn = await asyncpg.connect(settings.require_database())
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS naive (source text, id text, type text,"
            " data jsonb, PRIMARY KEY (source, id))"
        )
        async for value in stream:
            doc = orjson.loads(value)
            await conn.execute(
                "INSERT INTO naive VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (source, id)"
                " DO UPDATE SET data = excluded.data",
                doc["source"],
                doc["id"],
                doc["type"],
                orjson.dumps(doc["data"]).decode(),
            )
            count += 1
            if not first:
                first, first_count = time.perf_counter(), count
            if count >= N:
                finish(count, first, first_count)


if __name__ == "__main__":
    app.main()
