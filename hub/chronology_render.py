"""The chronology as CSV (one row per item, for a spreadsheet) and as a printable page: one
self-contained HTML file (its one stylesheet inline, allowed by hash; no script, no outside
address), so it can be saved, printed or filed with an inquiry's papers as it is."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from html import escape
from typing import Any

COLUMNS = (
    "happened_at",
    "precision",
    "known_at",
    "agency",
    "kind",
    "type",
    "summary",
    "event_id",
    "user",
    "purpose",
    "case_ref",
    "ref",
)

STYLE = """
body { font-family: "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif;
  margin: 2em; color: #111; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.meta { color: #444; margin: 0.2em 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.85em; margin-top: 1em; }
th, td { border: 1px solid #999; padding: 0.25em 0.4em; vertical-align: top; text-align: left; }
th { background: #eee; }
tr.read td { background: #f4f8ff; }
tr.notice td { background: #fff8e6; }
tr.withheld td { background: #f2f2f2; color: #555; font-style: italic; }
ul.limits { font-size: 0.85em; color: #333; }
@media print { body { margin: 0; } tr { break-inside: avoid; } th { background: #ddd; } }
""".strip()


def to_csv(answer: dict[str, Any]) -> str:
    """One header row, then one row per item in order (``precision`` empty unless a date)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for item in answer["items"]:
        w.writerow(["" if item.get(c) is None else _cell(str(item.get(c))) for c in COLUMNS])
    return buf.getvalue()


def _cell(text: str) -> str:
    """A value a spreadsheet will not run: text that starts like a formula (=, +, -, @, a tab
    or a carriage return) gets a leading apostrophe, as spreadsheets mark plain text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def style_policy() -> str:
    """The Content-Security-Policy of the page: nothing but its own inline stylesheet."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; font-src 'none';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _subjects(answer: dict[str, Any]) -> str:
    s = answer["subjects"]
    parts = [
        f"{k}: {', '.join(v)}"
        for k, v in (("persons", s["persons"]), ("cases", s["cases"]), ("places", s["places"]))
        if v
    ]
    return "; ".join(parts) or "none"


def to_html(answer: dict[str, Any], made: dict[str, Any]) -> str:
    """The printable page. ``made``: who asked, when, for which investigation."""
    w = answer["window"]
    rows = []
    for n, item in enumerate(answer["items"], 1):
        cls = "withheld" if item["type"] == "withheld" else item["kind"]
        when = item["happened_at"] + (" (date)" if item.get("precision") == "day" else "")
        who = " · ".join(x for x in (item.get("user"), item.get("purpose")) if x)
        rows.append(
            f'<tr class="{escape(cls)}"><td>{n}</td><td>{escape(when)}</td>'
            f"<td>{escape(item.get('known_at') or '-')}</td><td>{escape(item['agency'])}</td>"
            f"<td>{escape(item['kind'])}</td><td>{escape(item['type'])}</td>"
            f"<td>{escape(item['summary'])}</td><td>{escape(who)}</td>"
            f"<td>{escape(item.get('event_id') or item.get('ref') or '')}</td></tr>"
        )
    limits = "".join(f"<li>{escape(x)}</li>" for x in answer["limits"])
    counts = ", ".join(f"{v} {k}" for k, v in answer["counts"].items())
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{escape(style_policy())}">
<meta name="referrer" content="no-referrer">
<title>Chronology · {escape(str(made.get("case_ref") or ""))}</title>
<style>{STYLE}</style></head><body>
<h1>Multi-agency chronology</h1>
<p class="meta">Investigation: {escape(str(made.get("case_ref") or "-"))} ·
 purpose: {escape(str(made.get("purpose") or "-"))} ·
 made by {escape(str(made.get("user") or "-"))} ({escape(str(made.get("agency") or "-"))})
 at {escape(str(made.get("at") or "-"))}</p>
<p class="meta">Subjects: {escape(_subjects(answer))} · window: {escape(w["from"] or "start")}
 to {escape(w["to"] or "now")} · {escape(counts)}</p>
<table><thead><tr><th>#</th><th>happened</th><th>known to the hub</th><th>agency</th>
<th>kind</th><th>type</th><th>summary</th><th>who · why</th><th>event / ref</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>What this chronology cannot show</h2>
<ul class="limits">{limits}</ul>
</body></html>
"""
