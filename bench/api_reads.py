"""API read speed with policy and the durable audit write included: person and case by id,
p50/p99 and requests/s (one API process = one core), next to a plain asyncpg primary-key
select on one connection in the same run.

    .venv/bin/python -m bench.api_reads [--events 50000] [--requests 4000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from typing import Any

import aiohttp
import asyncpg

from bench.common import header, spawn, stack, start_api
from bench.quality import apply_city
from hub.devstack import free_port
from hub.sim.city import SimConfig, simulate
from hub.topics import ensure_topics
from projections.db import migrate

TOKEN = "bench-command-center-token-0123456789"


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[max(0, int(len(xs) * q) - 1)] * 1000


async def raw_select(dsn: str, ids: list[str]) -> tuple[float, float, float]:
    conn = await asyncpg.connect(dsn)
    try:
        lat = []
        t0 = time.perf_counter()
        for i in ids:
            t = time.perf_counter()
            await conn.fetchrow("SELECT * FROM person_node WHERE person_id = $1", i)
            lat.append(time.perf_counter() - t)
        return len(ids) / (time.perf_counter() - t0), statistics.median(lat) * 1000, pct(lat, 0.99)
    finally:
        await conn.close()


async def raw_select_concurrent(
    dsn: str, ids: list[str], concurrency: int
) -> tuple[float, float, float]:
    """The same primary-key select from ``concurrency`` clients at once, each on a connection
    of its own: the baseline at the API's concurrency (issue 14: compare like with like)."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    queue = list(ids)
    lat: list[float] = []

    async def client() -> None:
        async with pool.acquire() as conn:
            while queue:
                i = queue.pop()
                t = time.perf_counter()
                await conn.fetchrow("SELECT * FROM person_node WHERE person_id = $1", i)
                lat.append(time.perf_counter() - t)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return len(ids) / (time.perf_counter() - t0), statistics.median(lat) * 1000, pct(lat, 0.99)
    finally:
        await pool.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def api_load(url: str, paths: list[str], concurrency: int) -> tuple[float, float, float]:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Purpose": "duty-watch"}
    queue = list(paths)
    lat: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            path = queue.pop()
            t = time.perf_counter()
            async with session.get(url + path, headers=headers) as r:
                await r.read()
                # 404: a person the reader may not see (known only through withheld
                # records) answers as if absent; still a full read with policy and audit
                if r.status not in (200, 404):
                    raise RuntimeError(f"{path}: {r.status}")
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return len(paths) / (time.perf_counter() - t0), statistics.median(lat) * 1000, pct(lat, 0.99)


async def bare_http(s: Any, requests: int, concurrency: int) -> tuple[float, float, float]:
    """The same clients against a do-nothing endpoint on the API's server stack
    (bench/bare_asgi.py): what any read through this stack can reach at most."""
    port = free_port()
    proc = spawn(
        [
            "-m",
            "uvicorn",
            "bench.bare_asgi:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        dict(os.environ),
        s.data_dir / "bare.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(url + "/") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        await api_load(url, ["/"] * 200, concurrency)
        return await api_load(url, ["/"] * requests, concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def main(n: int, requests: int, concurrency: int) -> None:
    with stack() as s:
        dsn = s.require_database()
        await migrate(dsn)
        await ensure_topics(s)
        await apply_city(s, dsn, simulate(SimConfig(seed=4, events=n)))
        conn = await asyncpg.connect(dsn)
        persons = [
            r[0]
            for r in await conn.fetch(
                "SELECT person_id FROM person_node WHERE node LIKE 'nid:%' LIMIT 20000"
            )
        ]
        cases = [r[0] for r in await conn.fetch("SELECT case_id FROM case_thread LIMIT 20000")]
        audit_before = await conn.fetchval("SELECT count(*) FROM audit_log")
        await conn.close()
        rng = random.Random(1)
        api, url = await start_api(s, TOKEN, "city", "command-center")
        try:
            await api_load(url, [f"/v1/persons/{p}" for p in persons[:200]], concurrency)
            raw = await raw_select(dsn, [rng.choice(persons) for _ in range(requests)])
            raw_n = await raw_select_concurrent(
                dsn, [rng.choice(persons) for _ in range(requests * 4)], concurrency
            )
            bare = await bare_http(s, requests, concurrency)
            runs = {}
            for name, ids, fmt in (
                ("GET /v1/persons/{id}", persons, "/v1/persons/{}"),
                ("GET /v1/cases/{id}", cases, "/v1/cases/{}"),
            ):
                for conc in (concurrency, 1):
                    paths = [
                        fmt.format(rng.choice(ids))
                        for _ in range(requests if conc > 1 else requests // 4)
                    ]
                    cpu0 = cpu_seconds(api.pid)
                    r = await api_load(url, paths, conc)
                    per_core = len(paths) / (cpu_seconds(api.pid) - cpu0)
                    runs[(name, conc)] = (*r, per_core)
        finally:
            api.terminate()
            api.wait(timeout=30)
        conn = await asyncpg.connect(dsn)
        audited = await conn.fetchval("SELECT count(*) FROM audit_log") - audit_before
        await conn.close()
        print(header("api reads"))
        print(
            f"city of {n:,} simulated events; {requests:,} requests per path, "
            f"{concurrency} concurrent clients; {audited:,} audit rows written"
        )
        print(
            f"raw asyncpg PK select, 1 connection   {raw[0]:8,.0f}/s   p50 {raw[1]:.2f} ms"
            f"   p99 {raw[2]:.2f} ms"
        )
        print(
            f"raw asyncpg PK select, {concurrency} connections {raw_n[0]:7,.0f}/s"
            f"   p50 {raw_n[1]:.2f} ms   p99 {raw_n[2]:.2f} ms"
        )
        print(
            f"do-nothing endpoint, same server stack, {concurrency} clients {bare[0]:7,.0f}/s"
            f"   p50 {bare[1]:.2f} ms   p99 {bare[2]:.2f} ms   {bare[0] / raw_n[0]:.2f}x raw"
            " at the same concurrency (the most any read through this stack can reach)"
        )
        for (name, conc), r in runs.items():
            same = raw_n if conc > 1 else raw  # the baseline at the same concurrency
            print(
                f"{name:22s} {conc} client{'s' if conc > 1 else ' '}  {r[0]:7,.0f}/s"
                f"   {r[3]:7,.0f}/s per API core-second   p50 {r[1]:.2f} ms   p99 {r[2]:.2f} ms"
                f"   {r[0] / same[0]:.2f}x raw at the same concurrency"
            )
        print("aim: >= 0.3x raw at the same concurrency (8 clients), p99 <= 5 ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.requests, a.concurrency))
