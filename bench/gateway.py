"""Gateway throughput: accepted events/s through POST /v1/events (batches of 500), next to raw
aiokafka send_batch into the same broker, in the same run.

    .venv/bin/python -m bench.gateway [--events 200000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

from bench.common import header, stack, start_api
from hub.feed import bulk
from hub.topics import ensure_topics
from projections.db import migrate

TOKEN = "bench-agency-system-token-0123456789"


async def raw_send_batch(bootstrap: str, payloads: list[tuple[bytes, bytes]]) -> float:
    p = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await p.start()
    try:
        parts = sorted(await p.partitions_for("bench.raw"))
        t0 = time.perf_counter()
        futs = []
        for i in range(0, len(payloads), 500):
            batch = p.create_batch()
            for key, value in payloads[i : i + 500]:
                batch.append(key=key, value=value, timestamp=None)
            futs.append(
                await p.send_batch(batch, "bench.raw", partition=parts[(i // 500) % len(parts)])
            )
        await asyncio.gather(*futs)
        return len(payloads) / (time.perf_counter() - t0)
    finally:
        await p.stop()


async def gateway(url: str, batches: list[bytes], concurrency: int) -> float:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/cloudevents-batch+json",
    }
    queue = list(batches)
    accepted = 0

    # aiohttp rather than httpx: the client shares the 2 cores with the server, so the
    # cheaper client measures more of the gateway and less of itself.
    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while queue:
            body = queue.pop()
            async with session.post(f"{url}/v1/events", data=body, headers=headers) as r:
                text = await r.read()
                if r.status != 202:
                    raise RuntimeError(f"{r.status}: {text[:500]!r}")
                accepted += orjson.loads(text)["accepted"]

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return accepted / (time.perf_counter() - t0)


async def main(n: int, concurrency: int) -> None:
    with stack() as s:
        await migrate(s.require_database())
        await ensure_topics(s)
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=s.require_kafka())
        await admin.start()
        await admin.create_topics([NewTopic("bench.raw", 4, 1)])
        await admin.close()
        events = [
            e
            for e in bulk(seed=1, n_residents=n, n_cases=0, prefix="gwb")
            if e["type"] == "civil.resident.registered"
        ][:n]
        payloads = [(e["subject"].encode(), orjson.dumps(e)) for e in events]
        avg = sum(len(v) for _, v in payloads) / len(payloads)
        api, url = await start_api(s, TOKEN, "civil", "agency-system")
        try:
            batches = [orjson.dumps(events[i : i + 500]) for i in range(0, len(events), 500)]
            await gateway(url, batches[:4], 1)  # warm-up, not reported
            gw_events = len(events) - 2000
            gw = await gateway(url, batches[4:], concurrency)
            raw = await raw_send_batch(s.require_kafka(), payloads)
        finally:
            api.terminate()
            api.wait(timeout=30)
        print(header("gateway"))
        print(
            f"events: {gw_events} through the gateway, {len(payloads)} raw; "
            f"avg event {avg:.0f} bytes; gateway concurrency {concurrency}"
        )
        print(f"gateway accepted      {gw:10.0f} events/s")
        print(f"raw aiokafka send_batch {raw:8.0f} msg/s")
        print(f"ratio                 {gw / raw:10.2%}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.concurrency))
