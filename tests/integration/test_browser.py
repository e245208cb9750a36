"""The command center in a real headless Chromium (Debian's), in Chinese and in English: a
duty officer signs in (by keyboard), reads the grid map, opens a grid board, searches a
person, opens the dispute's thread and watches a case turn up in the live feed. Every view
is checked with axe-core (no serious or critical violation), checked for Chinese drawn as
empty boxes, and saved as a screenshot under test-output/browser/.

The machine may have no CJK font at all (a fresh Debian has none): the page must bring its
own. The box check draws each Han character of a string in the element's own font onto a
canvas and compares it with the glyph of a character no font has; a negative control shows
the check does see boxes when the hub's font is blocked on such a machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "browser"
AXE = ROOT / "hub" / "web" / "node_modules" / "axe-core" / "axe.min.js"
CATALOG = ROOT / "hub" / "web" / "src" / "i18n.js"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROBE = "document.body.insertAdjacentHTML('beforeend', '<p id=probe>李秀英 京 民初</p>')"
DESK = {"width": 1366, "height": 768}
WALL = {"width": 3840, "height": 2160}

# Draws each Han character of the element's text in the element's font and compares it with
# the glyph of U+10FFFD (a private-use code point no font draws: the missing-glyph box).
GLYPH_CHECK = """async (selector) => {
  const el = document.querySelector(selector);
  if (!el) return {error: `no element ${selector}`};
  const cs = getComputedStyle(el);
  const font = `${cs.fontWeight} 48px ${cs.fontFamily}`;
  const chars = [...new Set([...el.textContent].filter((c) => /\\p{Script=Han}/u.test(c)))];
  let loadError = null;
  try { await document.fonts.load(font, chars.join("")); } catch (e) { loadError = String(e); }
  await document.fonts.ready;
  const draw = (c) => {
    const cv = document.createElement("canvas");
    cv.width = 64; cv.height = 64;
    const g = cv.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, 64, 64);
    g.fillStyle = "#000"; g.font = font; g.textBaseline = "top";
    g.fillText(c, 4, 4);
    return cv.toDataURL();
  };
  const box = draw("\\u{10FFFD}");
  const seen = chars.map(draw);
  return {font, chars: chars.join(""), boxes: chars.filter((c, i) => seen[i] === box).join(""),
          distinct: new Set(seen).size, loadError};
}"""

AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}"""


def catalog() -> dict[str, dict[str, str]]:
    """The page's own message catalog (the test reads the words the page must show)."""
    src = CATALOG.read_text()
    body = src[
        src.index("export const MESSAGES = ") + len("export const MESSAGES = ") : src.index(
            "};\n", src.index("export const MESSAGES")
        )
        + 1
    ]
    return json.loads(_js_object_to_json(body))


def _js_object_to_json(js: str) -> str:
    """The catalog is JSON but for JavaScript's trailing commas."""
    return re.sub(r",(\s*[}\]])", r"\1", js)


def no_system_cjk_font() -> bool:
    fc = shutil.which("fc-list")
    if fc is None:
        return True
    return not subprocess.run([fc, ":lang=zh"], capture_output=True, text=True).stdout.strip()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Any, api: httpx.AsyncClient) -> AsyncIterator[Any]:
    base = str(api.base_url).rstrip("/")
    ctx = await browser.new_context(viewport=DESK, locale="zh-CN", timezone_id="UTC")
    pg = await ctx.new_page()
    errors: list[str] = []
    outside: list[str] = []
    refused: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # the page runs under the hub's Content-Security-Policy: nothing it needs is refused
    pg.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    # axe-core is added as a script of the hub's origin (an inline script would be refused)
    await pg.route(f"{base}/__test__/axe.min.js", lambda route: route.fulfill(path=str(AXE)))
    pg.on("request", lambda r: None if r.url.startswith((base, "data:")) else outside.append(r.url))
    yield pg
    await ctx.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert outside == [], f"the page fetched from outside the hub (no CDN): {outside}"
    assert refused == [], f"the Content-Security-Policy refused: {refused}"


async def check_view(page: Any, name: str, cjk: list[str] = ()) -> None:
    """Screenshot, accessibility, and Chinese drawn as glyphs (not boxes) in ``cjk``."""
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    if not await page.evaluate("typeof axe !== 'undefined'"):
        base = page.url.split("/", 3)[:3]
        await page.add_script_tag(url="/".join(base) + "/__test__/axe.min.js")
    violations = await page.evaluate(AXE_RUN)
    assert violations == [], f"{name}: accessibility violations: {violations}"
    for selector in cjk:
        got = await page.evaluate(GLYPH_CHECK, selector)
        assert "error" not in got, got
        assert got["chars"], f"{name}: no Chinese in {selector}"
        assert got["boxes"] == "", f"{name}: {got['boxes']!r} in {selector} drawn as boxes ({got})"
        assert got["distinct"] == len(got["chars"]), f"{name}: glyphs alike in {selector}: {got}"


async def test_chinese_drawn_without_the_hubs_font_is_seen_as_boxes(
    browser: Any, api: httpx.AsyncClient
) -> None:
    """The negative control: on a machine with no CJK font, block the hub's font and the box
    check must fail; with the font, the same string passes."""
    if not no_system_cjk_font():
        pytest.skip("this machine has a CJK font of its own: boxes cannot be provoked")
    base = str(api.base_url).rstrip("/")
    ctx = await browser.new_context(viewport=DESK)
    pg = await ctx.new_page()
    await pg.route("**/ui/fonts/**", lambda route: route.abort())
    await pg.goto(base + "/")
    await pg.wait_for_selector("#token")
    await pg.evaluate(PROBE)
    blocked = await pg.evaluate(GLYPH_CHECK, "#probe")
    await pg.screenshot(path=str(OUT / "control-font-blocked.png"))
    await ctx.close()
    assert blocked["boxes"] == blocked["chars"], f"the check did not see boxes: {blocked}"
    ctx = await browser.new_context(viewport=DESK)
    pg = await ctx.new_page()
    await pg.goto(base + "/")
    await pg.wait_for_selector("#token")
    await pg.evaluate(PROBE)
    served = await pg.evaluate(GLYPH_CHECK, "#probe")
    await ctx.close()
    assert served["boxes"] == "" and served["distinct"] == len(served["chars"]), served


async def test_a_duty_officer_follows_a_dispute_in_chinese_and_in_english(
    page: Any,
    browser: Any,
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    words = catalog()
    tag = unique("web") + "-"
    events = story.story(seed=37, n_residents=3, tag=tag)  # a seed no other test uses
    # Three grids of a district of their own, one per colour on the hub's clock (SLA): each
    # case reported 200 days ago and its time limit moved by an approved extension to a
    # due instant relative to now (green: far ahead, yellow: 10 days ahead, most of the
    # limit gone; red: passed). A grid is red if any open case is red, else yellow if any
    # is yellow. The agencies' own due_at says the opposite (overdue in the green grid, not
    # in the red one): the map follows the hub's clock.
    now = datetime.now(UTC)
    district = "1101" + f"{int(tag[4:8], 16) % 90 + 10:02d}"
    green, yellow, red = (
        now + timedelta(days=400),
        now + timedelta(days=10),
        now - timedelta(days=1),
    )
    mix = {
        f"{district}00100101": [green],
        f"{district}00100102": [yellow, green],
        f"{district}00100103": [red, green, yellow],
    }
    for grid, dues in mix.items():
        for i, due in enumerate(dues):
            cid = f"{tag}{grid}-{i}"
            t0 = now - timedelta(days=200)
            agency_due = now - timedelta(days=1) if due == green else now + timedelta(days=30)
            events += [
                story.event(
                    "city",
                    "city.case.reported",
                    f"{cid}-r",
                    t0,
                    cid,
                    {
                        "case_id": cid,
                        "category": "garbage",
                        "description": "垃圾堆积",
                        "channel": "grid-member",
                        "address": {
                            "text": f"北京市朝阳区望京街道阜通东大街{i + 1}号",
                            "grid": grid,
                        },
                    },
                ),
                story.event(
                    "city",
                    "city.case.registered",
                    f"{cid}-g",
                    t0 + timedelta(minutes=5),
                    cid,
                    {"case_id": cid, "due_at": agency_due.isoformat()},
                ),
                story.event(
                    "city",
                    "city.case.extended",
                    f"{cid}-x",
                    t0 + timedelta(minutes=10),
                    cid,
                    {
                        "case_id": cid,
                        "due_at": due.isoformat(),
                        "reason": "材料待补",
                        "approved_by": "街道主任",
                    },
                ),
            ]
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, events), main_worker)
    base = str(api.base_url).rstrip("/")
    person = events[0]["data"]["person"]
    dispute = hub_id("C", ref_key("city", "case", f"{tag}C-2026-000042"))

    for lang in ("zh-CN", "en"):
        w = words[lang]
        await page.goto(f"{base}/?lang={lang}")
        await page.wait_for_selector("#token")
        assert await page.get_attribute("html", "lang") == lang
        assert await page.inner_text("#view h1") == w["signin.title"]
        await check_view(page, f"{lang}-1-sign-in", ["header .brand"] if lang == "zh-CN" else [])

        # Sign in by keyboard: Tab from the top reaches the token field, Enter submits.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        for _ in range(10):
            if await page.evaluate("document.activeElement.id") == "token":
                break
            await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "token"
        await page.keyboard.type(TOKEN)
        await page.keyboard.press("Enter")

        # The grid map: my three grids drawn in three colours.
        await page.wait_for_selector(f'path[data-grid="{district}00100103"]', timeout=30_000)
        assert await page.inner_text("#view h1") == w["map.title"]
        levels = {g: await page.get_attribute(f'path[data-grid="{g}"]', "data-level") for g in mix}
        assert list(levels.values()) == ["green", "yellow", "red"], levels
        fills = [await page.get_attribute(f'path[data-grid="{g}"]', "fill") for g in mix]
        assert [f.lower() for f in fills] == ["#2e7d4f", "#d8a300", "#c62828"], fills
        # the list beside the map: each grid's red / yellow / green counts
        row = await page.inner_text(f'#gridlist tr[data-grid="{district}00100103"]')
        assert row.split()[-3:] == ["1", "1", "1"], row
        legend = await page.inner_text("#view .legend")
        assert all(w[f"map.{k}"] in legend for k in ("green", "yellow", "red")), legend
        # places a grid member located (the story's dispute) are points over the grids
        await page.wait_for_selector("path[data-place]", state="attached", timeout=30_000)
        labels = await page.eval_on_selector("#purpose", "s => [...s.options].map(o => o.text)")
        assert ("值班巡查" if lang == "zh-CN" else "Duty watch") in labels
        await page.select_option("#purpose", "dispute-mediation")
        await page.fill("#purposetext", "12号楼噪音纠纷回访")
        await page.dispatch_event("#purposetext", "change")
        await check_view(
            page, f"{lang}-2-grid-map", ["#view h1", "#purpose"] if lang == "zh-CN" else []
        )

        # The grid board, opened from the map by keyboard.
        await page.focus(f'path[data-grid="{district}00100102"]')
        await page.keyboard.press("Enter")
        await page.wait_for_selector(f"text={w['grid.cases']}", timeout=30_000)
        board = await page.inner_text("#view")
        assert f"{district}00100102" in board and "µs" not in board
        assert ("垃圾清运" if lang == "zh-CN" else "garbage") in board
        # relative times (the cases' due times, ahead here: in 10 days, next year)
        assert ("后" if lang == "zh-CN" else "in 10 days") in board, board
        assert "T" not in await page.inner_text("#view table time >> nth=0")  # no raw ISO
        await check_view(page, f"{lang}-3-grid-board", ["#view table"] if lang == "zh-CN" else [])

        # Search by identity number: the person, named and addressed in Chinese.
        await page.fill("#q", person["national_id"])
        await page.press("#q", "Enter")
        await page.wait_for_selector("#provenance", timeout=30_000)
        assert await page.inner_text("#provenance") == w["person.provenance"]
        assert person["name"] in await page.inner_text("#view h1")
        await check_view(page, f"{lang}-4-person", ["#view h1", "table.addresses a"])

        # The dispute's thread, among the person's cases.
        await page.click(f'table.cases a[href="#case/{dispute}"]')
        await page.wait_for_selector("table.timeline", timeout=30_000)
        timeline = await page.inner_text("table.timeline")
        names = ["城管", "公安", "法院"] if lang == "zh-CN" else ["City", "Police", "Court"]
        for name in names:
            assert name in timeline
        assert f"{tag}C-2026-000042" in timeline and f"{tag}F-2026-0009" in timeline
        await check_view(
            page,
            f"{lang}-5-case-thread",
            (["table.timeline"] if lang == "zh-CN" else []) + ["#view table a[href^='#place']"],
        )

        # The live feed: a case reported now turns up beside the page.
        await page.goto(f"{base}/?lang={lang}#map")
        await page.wait_for_selector(f"#feedstate >> text={w['feed.live']}", timeout=30_000)
        late = f"{tag}LATE-{lang}"
        grid = "97" + (tag[-9:-1] + lang).encode().hex()[:20]  # a grid only this test uses
        addr = {"text": "北京市朝阳区将台路1号1号楼1单元101室", "grid": grid}
        await publish(
            producer,
            [
                story.event(
                    "city",
                    "city.case.reported",
                    f"{late}-1",
                    story.EPOCH,
                    late,
                    {
                        "case_id": late,
                        "category": "street-vendor",
                        "description": "d",
                        "channel": "video",
                        "address": addr,
                    },
                ),
                story.event(
                    "city",
                    "city.case.registered",
                    f"{late}-2",
                    story.EPOCH + timedelta(minutes=1),
                    late,
                    {"case_id": late, "due_at": "2026-11-02T10:00:00+08:00"},
                ),
            ],
        )
        await page.wait_for_selector(f"#feed >> text={grid}", timeout=60_000)
        vendor = "占道经营" if lang == "zh-CN" else "street vendor"
        assert vendor in await page.inner_text("#feed")
        await check_view(page, f"{lang}-6-live-feed", ["#feed"] if lang == "zh-CN" else [])

        # The same map on a wall display: larger type, still every grid.
        await page.set_viewport_size(WALL)
        await page.wait_for_selector(f'path[data-grid="{district}00100101"]', timeout=30_000)
        size = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('td')).fontSize)"
        )
        assert size >= 24, f"type on a 4K wall is {size}px"
        await check_view(page, f"{lang}-7-wall-3840x2160")
        await page.set_viewport_size(DESK)
        size = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('td')).fontSize)"
        )
        assert size >= 13, f"type at 1366×768 is {size}px"
        await page.click("#signout")
        await page.wait_for_selector("#token")

    # Every read the page made was audited with the chosen purpose code and the text as typed.
    purposes = {
        r[0]
        for r in await db.fetch(
            "SELECT DISTINCT purpose FROM audit_log WHERE user_name = 'duty-officer-7'"
            " AND path LIKE '/v1/persons%'"
        )
    }
    assert "dispute-mediation; 12号楼噪音纠纷回访" in purposes, purposes


async def test_the_api_docs_run_under_their_policy(page: Any, api: httpx.AsyncClient) -> None:
    """Swagger UI's inline start script is allowed by its hash: it runs and draws the UI,
    and the policy refuses nothing (the ``page`` fixture checks the console)."""
    await page.goto(str(api.base_url).rstrip("/") + "/docs")
    await page.wait_for_selector("#swagger-ui .swagger-ui", timeout=30_000)
    # and it reads the hub's OpenAPI 3.1 document: the title and the routes are drawn
    await page.wait_for_selector("#swagger-ui .info .title", timeout=30_000)
    title = await page.inner_text("#swagger-ui .info .title")
    assert "Civic Hub query API" in title, title
    assert await page.locator(".opblock").count() > 10
    assert "Unable to render" not in await page.inner_text("#swagger-ui")


def _kpi_events(tag: str, good: str, other: str) -> list[dict[str, Any]]:
    """Three garbage cases reported on a working Monday no other test uses: in ``good`` one
    handled, closed and followed up, one only registered (a day late); in ``other`` one
    solved."""
    mon = datetime(2023, 3, 6, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    m = timedelta(minutes=1)

    def ev(case: str, etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
        return story.event("city", etype, f"{case}-{n}", at, case, {"case_id": case, **data})

    def reported(case: str, grid: str) -> dict[str, Any]:
        addr = {"text": "朝阳区望京街道阜通东大街6号", "grid": grid}
        return ev(
            case, "city.case.reported", 0, mon, category="garbage", description="楼道堆放杂物",
            channel="hotline", address=addr,
        )  # fmt: skip

    due = "2023-03-08T17:30:00+08:00"
    a, b, c = f"{tag}KA", f"{tag}KB", f"{tag}KC"
    return [
        reported(a, good),
        ev(a, "city.case.registered", 1, mon + 20 * m, due_at=due),
        ev(a, "city.case.dispatched", 2, mon + 40 * m, department="环卫所", due_at=due),
        ev(a, "city.case.handled", 3, mon + 90 * m, result="已清理"),
        ev(a, "city.case.verified", 4, mon + 120 * m, passed=True),
        ev(a, "city.case.closed", 5, mon + 130 * m, outcome="已解决"),
        ev(a, "city.feedback.recorded", 6, mon + 240 * m, satisfied=True),
        reported(b, good),
        ev(b, "city.case.registered", 1, mon + timedelta(days=1), due_at=due),
        reported(c, other),
        ev(c, "city.case.registered", 1, mon + 10 * m, due_at=due),
        ev(c, "city.case.verified", 2, mon + 60 * m, passed=True),
    ]


async def test_the_kpi_page_draws_its_charts_from_the_report(
    page: Any,
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    """Given cases of two grids in a past week, when the duty officer opens the KPI page for
    that week, in Chinese and in English, then the bar chart draws each grid's solve rate as
    the report gives it, the trend draws a line per rate, the table lists the grids, and the
    page passes the accessibility and glyph checks."""
    words = catalog()
    tag = unique("kpiweb") + "-"
    digits = f"{int(tag[7:15], 16) % 10**12:012d}"
    good, other = f"96{digits}", f"95{digits}"
    await wait_caught_up(
        db, "hub.internal.streams", await publish(producer, _kpi_events(tag, good, other)),
        main_worker,
    )  # fmt: skip
    base = str(api.base_url).rstrip("/")
    window = "grid/2023-03-06/2023-03-13"
    for lang in ("zh-CN", "en"):
        w = words[lang]
        await page.goto(f"{base}/?lang={lang}&token={TOKEN}#kpi/{window}")
        bar = f'svg[data-chart="bars"] g[data-key="{good}"] rect'
        await page.wait_for_selector(bar, timeout=30_000)
        assert await page.inner_text("#view h1") == w["kpi.title"]
        assert await page.get_attribute('#nav a[href="#kpi"]', "aria-current") == "page"
        # the bars are the report's rates: 1 of 2 solved in one grid, 1 of 1 in the other
        half = await page.get_attribute(bar, "data-value")
        whole = await page.get_attribute(
            f'svg[data-chart="bars"] g[data-key="{other}"] rect', "data-value"
        )
        assert (float(half), float(whole)) == (0.5, 1.0)
        widths = [
            float(
                await page.get_attribute(f'svg[data-chart="bars"] g[data-key="{g}"] rect', "width")
            )
            for g in (good, other)
        ]
        assert 0 < widths[0] < widths[1] and abs(widths[1] - 2 * widths[0]) < 1, widths
        # the trend: a line per rate, with a point per slice that had cases
        assert await page.locator('svg[data-chart="trend"] polyline').count() == 6
        assert (
            await page.locator('svg[data-chart="trend"] g[data-rate="solve_rate"] circle').count()
            >= 1
        )
        row = await page.inner_text(f'table.kpi tr[data-key="{good}"]')
        assert row.split("\t")[:2] == [good, "2"], row
        # another rate: the bars are redrawn with it
        await page.select_option("#kpirate", "satisfaction_rate")
        await page.wait_for_selector(
            f"#kpibarstitle >> text={w['kpi.satisfaction_rate']}", timeout=30_000
        )
        assert await page.get_attribute(bar, "data-value") == "1"
        await check_view(
            page, f"{lang}-8-kpi", ["#view h1", "#kpibarstitle", "table.kpi thead"]
            if lang == "zh-CN" else [],
        )  # fmt: skip
