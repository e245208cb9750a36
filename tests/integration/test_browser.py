"""The command center in a real headless Chromium (Debian's): a duty officer signs in, sees
the grid map, searches a person, opens the dispute's thread, and watches a case turn up in
the live feed."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from hub.sim import story
from projections.ids import hub_id, ref_key
from tests.integration.conftest import Worker, publish, unique, wait_caught_up

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (make test installs it)")
TOKEN = "cc-token-0123456789abcdef"


@pytest.fixture
async def page() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        pg = await browser.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        await browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


async def test_a_duty_officer_follows_a_dispute_and_sees_live_updates(
    page, api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    tag = unique("web") + "-"
    events = story.story(seed=37, n_residents=3, tag=tag)  # a seed no other test uses
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, events),
                         main_worker)
    base = str(api.base_url).rstrip("/")

    await page.goto(base + "/")
    await page.fill("#token", TOKEN)
    await page.fill("#purpose", "browser test")
    await page.click("#auth button")
    await page.wait_for_selector(".tile", timeout=30_000)
    assert "Grids" in await page.inner_text("h2")

    nid = events[0]["data"]["person"]["national_id"]
    await page.fill("#q", nid)
    await page.click("#search button")
    await page.wait_for_selector("text=Where each field came from", timeout=30_000)
    assert events[0]["data"]["person"]["name"] in await page.inner_text("h2")

    # The dispute's thread, among the person's cases (other tests' stories may have joined
    # the same person: the read model is shared, and so is the resolver's judgement).
    dispute = hub_id("C", ref_key("city", "case", f"{tag}C-2026-000042"))
    await page.click(f'#view table >> nth=2 >> a[href="#case/{dispute}"]')
    await page.wait_for_selector("text=Timeline, every agency, in event time", timeout=30_000)
    timeline = await page.inner_text("table.timeline")
    for agency in ("city", "police", "court"):
        assert agency in timeline
    assert f"{tag}C-2026-000042" in timeline and f"{tag}F-2026-0009" in timeline

    await page.goto(base + "/#")
    await page.wait_for_selector("#feed", timeout=30_000)
    late = f"{tag}LATE"
    grid = "97" + tag[-9:-1].encode().hex()  # a grid only this test uses
    addr = {"text": "北京市朝阳区将台路1号1号楼1单元101室", "grid": grid}
    await publish(producer, [
        story.event("city", "city.case.reported", f"{tag}late-1", story.EPOCH, late, {
            "case_id": late, "category": "street-vendor", "description": "d",
            "channel": "video", "address": addr}),
        story.event("city", "city.case.registered", f"{tag}late-2",
                   story.EPOCH + timedelta(minutes=1), late,
                   {"case_id": late, "due_at": "2026-11-02T10:00:00+08:00"}),
    ])
    await page.wait_for_selector(f"#feed >> text={addr['grid']}", timeout=60_000)
