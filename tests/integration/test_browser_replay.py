"""The replay page (issue 12) in a real headless Chromium against the real API: a story
published in two phases with a read between them; an investigator opens the case's replay,
gives the investigation's reference, moves the slider to an instant between the phases and
sees the case as the hub knew it then (open, not closed), with the closing named among the
changes since; by keyboard the slider goes to now and back from stop to stop. A command
center token is refused replay, and the page says so instead of breaking. Checked with
axe-core and for Chinese drawn as boxes, like the rest of the command center
(tests/integration/test_browser.py, whose browser fixtures this module shares)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from hub.sim import story
from tests.integration import test_browser as tb
from tests.integration.conftest import Worker, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid

pytestmark = pytest.mark.skipif(tb.CHROMIUM is None, reason="no Chromium (make test installs it)")
browser = tb.browser  # the shared fixtures: Chromium, and a page under the hub's policy
page = tb.page
CONSUMER = "hub.internal.streams"
INVESTIGATOR = "police-token-0123456789abcdef"
COMMAND_CENTER = "cc-token-0123456789abcdef"
# The page has settled: the dossier shown is the one read at the slider's instant.
# The page's words for the codes this story shows (TERMS in hub/web/src/i18n.js).
ZH = {"open": "在办", "closed": "已结案", "neighbour-dispute": "邻里纠纷", "city": "城管"}
SETTLED = """() => {
  const d = document.querySelector('#dossier'), s = document.querySelector('#instant');
  return d && s && !d.hasAttribute('aria-busy') &&
    d.dataset.at === new Date(Number(s.value)).toISOString();
}"""


async def sign_in(pg: Any, url: str, token: str) -> None:
    """Open ``url`` signed out and sign in by keyboard: the page then shows the address."""
    await pg.goto("about:blank")  # a new document, not a hash change of the old one
    await pg.goto(url)
    await pg.wait_for_selector("#token")
    await pg.focus("#token")
    await pg.keyboard.type(token)
    await pg.keyboard.press("Enter")


async def settled(pg: Any) -> str:
    await pg.wait_for_function(SETTLED, timeout=30_000)
    return str(await pg.inner_text("#dossier"))


async def test_an_investigator_replays_a_case_to_an_instant_between_two_phases(
    page: Any,
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    words = tb.catalog()
    w = words["zh-CN"]
    tag = unique("wr")
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    home = {
        "text": f"北京市朝阳区望京街道阜通东大街{tag[-4:]}号院3号楼2单元502室",
        "grid": "110105001001",
    }
    nid = fresh_nid(f"{tag}-p")
    name = "郑" + tag[-3:]
    city_case = f"{tag}-C"
    ev = story.event
    phase1 = [
        ev("civil", "civil.resident.registered", f"{tag}-1", t0, f"{tag}-R",
           {"resident_id": f"{tag}-R", "household_id": "H", "address": home,
            "person": {"national_id": nid, "name": name}}),
        ev("city", "city.case.reported", f"{tag}-2", t0 + timedelta(days=1), city_case,
           {"case_id": city_case, "category": "neighbour-dispute", "description": "噪音纠纷",
            "channel": "grid-member", "address": home,
            "persons": [{"role": "party", "person": {"name": name, "national_id": nid}}]}),
    ]  # fmt: skip
    # closed after a passed verification (a close without one leaves the case open)
    verified = ev("city", "city.case.verified", f"{tag}-verified",
                  t0 + timedelta(days=3) - timedelta(hours=1), city_case,
                  {"case_id": city_case, "passed": True})  # fmt: skip
    closed = ev("city", "city.case.closed", f"{tag}-closed", t0 + timedelta(days=3), city_case,
                {"case_id": city_case, "outcome": "办结"})  # fmt: skip

    await wait_caught_up(db, CONSUMER, await publish(producer, phase1), main_worker)
    case_id = await db.fetchval(
        "SELECT entity_id FROM record_link WHERE entity_kind = 'case' AND record_id = $1", city_case
    )
    # A read between the phases, as a duty officer would make it.
    cc = {"Authorization": f"Bearer {COMMAND_CENTER}", "X-Purpose": "case-handling"}
    assert (await api.get(f"/v1/cases/{case_id}", headers=cc)).json()["status"] == "open"
    between: datetime = await db.fetchval("SELECT clock_timestamp()")
    await wait_caught_up(db, CONSUMER, await publish(producer, [verified, closed]), main_worker)
    assert (await api.get(f"/v1/cases/{case_id}", headers=cc)).json()["status"] == "closed"

    base = str(api.base_url).rstrip("/")
    replay = f"{base}/?lang=zh-CN#replay/case/{quote(case_id)}"
    await sign_in(page, replay, INVESTIGATOR)

    # The page asks for the investigation's reference and the purpose first.
    await page.wait_for_selector("#caseref", timeout=30_000)
    assert await page.inner_text("#view h1") == w["replay.title.case"].replace("{id}", case_id)
    assert await page.evaluate("document.activeElement.id") == "caseref"
    await page.keyboard.type(f"督察-2026-017-{tag}")
    await page.select_option("#replaypurpose", "investigation")
    await page.focus("#caseref")
    await page.keyboard.press("Enter")

    # At first the instant is now: the case closed, nothing changed since.
    await page.wait_for_selector("#instant", timeout=30_000)
    assert ZH["closed"] in await settled(page)
    assert await page.inner_text("#changesbody") == w["replay.changes.now"]
    # The chronology beside: the contract's list, or (before the chronology route is on this
    # hub) a clear "not available", never a broken page.
    state = await page.get_attribute("#chronology", "data-state")
    assert state in ("ready", "unavailable"), state
    if state == "unavailable":
        assert await page.inner_text("#chronounavailable") == w["replay.chronology.none"]
    else:
        assert await page.locator("ol.chrono > li").count() >= 3
        assert await page.locator("ol.chrono > li.later").count() == 0  # all known by now

    # The slider moved to an instant between the phases: the case as the hub knew it then.
    at = int(between.timestamp() * 1000)
    await page.fill("#instant", str(at))
    dossier = await settled(page)
    assert await page.get_attribute("#dossier", "data-state") == "known"
    assert ZH["open"] in dossier and ZH["closed"] not in dossier, dossier
    assert case_id in dossier and ZH["neighbour-dispute"] in dossier
    # What changed since: the closing, by the city, with its event.
    change = page.locator('#changes tr[data-field="status"]')
    row = await change.inner_text()
    assert ZH["open"] in row and ZH["closed"] in row, row
    assert f"{tag}-closed" in row and ZH["city"] in row, row
    if state == "ready":  # the closing is not yet known at the instant; the read before is
        closing = page.locator(f'ol.chrono > li[data-event="{tag}-closed"]')
        assert "later" in str(await closing.get_attribute("class"))
        assert await page.locator('ol.chrono > li[aria-current="step"]').count() >= 1
        reported = page.locator(f'ol.chrono > li[data-event="{tag}-2"]')
        assert "later" not in str(await reported.get_attribute("class"))
    # the instant is in the address: the same replay opens again from it
    assert datetime.fromtimestamp(at / 1000, UTC).isoformat()[:19] in page.url
    await tb.check_view(page, "zh-CN-8-replay", ["#view h1", "#changes table", "#dossier h2"])
    await page.screenshot(path=str(tb.OUT / "zh-CN-8-replay-whole.png"), full_page=True)

    # The change's instant, by keyboard: the slider goes to when the hub took the closing in.
    await page.focus('#changes tr[data-field="status"] button')
    await page.keyboard.press("Enter")
    assert ZH["closed"] in await settled(page)
    assert await page.evaluate("document.activeElement.id") == "instant"
    assert int(await page.input_value("#instant")) > at

    # By keyboard: End is now (closed); the arrow keys step back from stop to stop until
    # the case is open again, each stop earlier than the last.
    await page.focus("#instant")
    await page.keyboard.press("End")
    assert ZH["closed"] in await settled(page)
    last = int(await page.input_value("#instant"))
    for _ in range(20):
        await page.keyboard.press("ArrowLeft")
        dossier = await settled(page)
        now_at = int(await page.input_value("#instant"))
        assert now_at < last, (now_at, last)
        last = now_at
        if ZH["open"] in dossier:
            break
    assert ZH["open"] in dossier, dossier
    assert last < int(await page.evaluate("Date.now()"))

    # In English, at the same instant.
    await page.click("#lang")
    await page.wait_for_selector(f"text={words['en']['replay.chronology']}", timeout=30_000)
    dossier = await settled(page)
    assert "open" in dossier and "closed" not in dossier, dossier
    assert int(await page.input_value("#instant")) == last

    # The party's dossier: from the case to the live person view, and its replay link.
    await page.click('#dossier a[href^="#person/"]')
    await page.wait_for_selector("#provenance", timeout=30_000)
    await page.click(".replaylink a")
    await page.wait_for_selector("#instant", timeout=30_000)
    assert name in await settled(page)
    assert await page.get_attribute("#dossier", "data-state") == "known"
    await tb.check_view(page, "en-9-replay-person")

    # A command-center token may not replay: the page says so, and drops the link.
    await page.click("#signout")
    await sign_in(page, f"{base}/?lang=zh-CN#replay/case/{quote(case_id)}", COMMAND_CENTER)
    await page.wait_for_selector("#replaydenied", timeout=30_000)
    assert await page.inner_text("#replaydenied") == w["replay.denied"]
    await page.goto(f"{base}/?lang=zh-CN#case/{quote(case_id)}")
    await page.wait_for_selector("table.timeline", timeout=30_000)
    assert await page.locator(".replaylink").count() == 0
    # The investigator's replay reads were audited with the investigation's reference.
    refs = {
        r[0]
        for r in await db.fetch(
            "SELECT DISTINCT case_ref FROM audit_log WHERE user_name = 'officer-9'"
            " AND path LIKE $1",
            f"/v1/replay/cases/{case_id}%",
        )
    }
    assert refs == {f"督察-2026-017-{tag}"}, refs
