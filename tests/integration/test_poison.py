"""Given a batch holding one record the hub's code cannot process (it passes the intake,
then the projection fails on it), when the projector applies the batch, then that record
goes to the dead letters as ``unprocessable`` with the error, the records around it are
applied, and the partition moves on: no record can stop the hub."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from hub.bootstrap import start_producer
from hub.config import Settings
from hub.sim import story
from projections.db import create_pool, read_positions
from projections.intake import InboundRecord
from projections.store import BatchResult, Store
from streams.project import Projector
from tests.integration.conftest import new_database, unique


class FailsOn(Store):
    """The real store, but the projection of one marked record raises (as a bug would)."""

    def __init__(self, *args: object, marker: bytes) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.marker = marker

    async def apply_batch(
        self,
        records: Sequence[InboundRecord],
        deadletter: object = None,
        decisions: object = None,
        unprocessable: dict[tuple[str, int, int], str] | None = None,
    ) -> BatchResult:
        skip = unprocessable or {}
        if any(
            self.marker in (r.value or b"") and (r.topic, r.partition, r.offset) not in skip
            for r in records
        ):
            raise KeyError("a handler bug the intake could not see")
        return await super().apply_batch(records, deadletter, decisions, unprocessable)  # type: ignore[arg-type]


async def test_a_record_the_code_cannot_process_is_dead_lettered_and_the_rest_applied(
    hub: Settings,
) -> None:
    tag = unique("poison")
    url = await new_database(hub, tag.replace("-", "_"))
    pool = await create_pool(url, max_size=2)
    producer = await start_producer(hub, "projector")
    try:
        events = story.story(seed=41, n_residents=6, tag=f"{tag}-")[:6]
        events[3] = {**events[3], "subject": f"{tag}-POISON"}
        records = [
            InboundRecord("agency.civil", 0, i, None, orjson.dumps(e)) for i, e in enumerate(events)
        ]
        store = FailsOn(pool, "test", hub.agencies, marker=f"{tag}-POISON".encode())
        projector = Projector(store, producer, hub.resolution_topic)
        res = await projector.apply_records(records)
        assert (res.accepted, res.rejected) == (5, 1)
        row = await pool.fetchrow('SELECT * FROM deadletter WHERE "offset" = 3')
        assert row["reason"] == "unprocessable" and "KeyError" in row["detail"]
        assert row["value"] == records[3].value  # the original bytes, untouched
        assert await pool.fetchval("SELECT count(*) FROM event_archive") == 5
        assert (await read_positions(pool, "test"))[("agency.civil", 0)] == 6
        # the next batch of that partition goes on as usual
        more = story.event(
            "civil",
            "civil.resident.moved",
            f"{tag}-m",
            story.EPOCH,
            events[0]["subject"],
            {
                "resident_id": events[0]["subject"],
                "address": {"text": "某路1号"},
                "moved_on": "2026-11-03",
            },
        )
        res = await projector.apply_records(
            [InboundRecord("agency.civil", 0, 6, None, orjson.dumps(more))]
        )
        assert res.accepted == 1
    finally:
        await producer.stop()
        await pool.close()
