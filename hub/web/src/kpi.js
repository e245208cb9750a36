// The KPI page (#kpi/<by>/<from>/<to>): how each grid, street or agency handled the city's
// cases over a window, from GET /v1/reports/kpi (issue 13). Charts are plain SVG drawn here
// (no chart library; attributes only, no inline styles: the page's CSP refuses them), each
// with a table beside it that says the same in words. The window's dates are days in the
// district's zone; the trend asks the same report for up to twelve slices of the window.
// app.js calls showKpi(arg, page) with what it shares: view, api, esc, status, t, state.

const RATES = ["response_rate", "solve_rate", "on_time_close_rate", "satisfaction_rate", "rework_rate", "lowest_level_share"];
const COUNTS = ["received", "responded_on_time", "solved", "closed", "closed_on_time", "followed_up", "satisfied", "rework", "extended", "bounced", "solved_lowest_level"];
const KEYS = ["grid", "street", "agency"];
const COLOURS = ["#1f4fb0", "#23683f", "#c06000", "#6e3689", "#b00020", "#00796b"];
const MAX_BARS = 25;
const DAY = 86400000;

// The zone's offset at an instant, as RFC 3339 wants it ("+08:00").
function offset(zone, at) {
  const part = new Intl.DateTimeFormat("en-US", {timeZone: zone, timeZoneName: "longOffset"})
    .formatToParts(at).find((p) => p.type === "timeZoneName");
  const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(part ? part.value : "");
  return m ? `${m[1]}:${m[2] || "00"}` : "+00:00";
}
function localDay(zone, at) {
  return new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"}).format(at);
}
// A day (YYYY-MM-DD) at midnight in the zone, as an RFC 3339 instant.
function instant(zone, day) {
  return `${day}T00:00:00${offset(zone, new Date(`${day}T12:00:00Z`))}`;
}
function addDays(day, n) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
}
const isDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "") && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));

// Up to twelve slices of [from, to): months for a long window, else equal runs of days.
function slices(from, to) {
  const days = Math.round((Date.parse(to) - Date.parse(from)) / DAY);
  if (days > 62) {
    const out = [];
    let a = from;
    while (a < to && out.length < 24) {
      const d = new Date(`${a}T00:00:00Z`);
      const b = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
      out.push([a, b < to ? b : to]);
      a = b;
    }
    return out.slice(-12);
  }
  const n = Math.min(12, Math.max(1, days));
  const step = Math.ceil(days / n);
  const out = [];
  for (let a = from; a < to; a = addDays(a, step)) {
    const b = addDays(a, step);
    out.push([a, b < to ? b : to]);
  }
  return out;
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);

export async function showKpi(arg, page) {
  const {view, api, esc, status, state} = page;
  const t = page.t();
  const zone = state.timezone;
  const [by0, from0, to0] = (arg || "").split("/");
  const today = localDay(zone, new Date());
  const by = KEYS.includes(by0) ? by0 : "grid";
  const to = isDay(to0) ? to0 : addDays(today, 1);
  const from = isDay(from0) && from0 < to ? from0 : addDays(to, -30);
  const rate = KPI.rate && RATES.includes(KPI.rate) ? KPI.rate : "solve_rate";
  const query = (a, b) => `/v1/reports/kpi?${new URLSearchParams({from: instant(zone, a), to: instant(zone, b), by})}`;

  view.innerHTML = `<h1>${esc(t("kpi.title"))}</h1>
    <p class="hint">${esc(t("kpi.caption"))}</p>
    <form id="kpiform" class="kpiform">
      <label for="kpiby">${esc(t("kpi.by"))}</label>
      <select id="kpiby">${KEYS.map((k) => `<option value="${k}"${k === by ? " selected" : ""}>${esc(t(`kpi.by.${k}`))}</option>`).join("")}</select>
      <label for="kpifrom">${esc(t("kpi.from"))}</label><input id="kpifrom" type="date" value="${esc(from)}" required>
      <label for="kpito">${esc(t("kpi.to"))}</label><input id="kpito" type="date" value="${esc(to)}" required>
      <label for="kpirate">${esc(t("kpi.rate"))}</label>
      <select id="kpirate">${RATES.map((r) => `<option value="${r}"${r === rate ? " selected" : ""}>${esc(t(`kpi.${r}`))}</option>`).join("")}</select>
      <button type="submit">${esc(t("kpi.show"))}</button>
    </form>
    <div id="kpibody"><p class="hint">${esc(t("kpi.loading"))}</p></div>`;
  const go = () => {
    const f = document.querySelector("#kpifrom").value;
    const tt = document.querySelector("#kpito").value;
    location.hash = `kpi/${document.querySelector("#kpiby").value}/${f}/${tt}`;
  };
  document.querySelector("#kpiform").onsubmit = (e) => { e.preventDefault(); go(); };
  document.querySelector("#kpirate").onchange = (e) => { KPI.rate = e.target.value; showKpi(arg, page).catch((x) => status(x.message, true)); };

  const report = await api(query(from, to));
  const trend = await Promise.all(slices(from, to).map(async ([a, b]) => ({a, b, total: (await api(query(a, b))).total})));
  const name = (key) => (by === "agency" ? t.term("agency", key) : key);
  const items = [...report.items].sort((x, y) => (y[rate] ?? -1) - (x[rate] ?? -1) || y.received - x.received);
  const total = report.total;
  document.querySelector("#kpibody").innerHTML = `
    <p>${esc(t("kpi.window", {from, to: addDays(to, -1), n: total.received, keys: report.items.length, rule: `${report.rule.id} v${report.rule.version}`}))}</p>
    <div class="tiles" role="list">${RATES.map((r) => `<div class="tile" role="listitem"><span>${esc(t(`kpi.${r}`))}</span><b data-rate="${r}">${esc(pct(total[r]))}</b></div>`).join("")}</div>
    <h2 id="kpibarstitle">${esc(t("kpi.chart.bars", {rate: t(`kpi.${rate}`), by: t(`kpi.by.${by}`)}))}</h2>
    ${items.length ? bars(items.slice(0, MAX_BARS), rate, name, t, esc) : `<p>${esc(t("kpi.none"))}</p>`}
    ${items.length > MAX_BARS ? `<p class="hint">${esc(t("kpi.more", {n: MAX_BARS, all: items.length}))}</p>` : ""}
    <h2 id="kpitrendtitle">${esc(t("kpi.chart.trend"))}</h2>
    ${line(trend, t, esc)}
    <h2>${esc(t("kpi.table"))}</h2>
    ${table(items, total, name, t, esc)}
    <details><summary>${esc(t("kpi.formulas"))}</summary><ul>${[...COUNTS, ...RATES].map((k) => `<li><b>${esc(t(`kpi.${k}`))}</b> (<code>${k}</code>)</li>`).join("")}</ul></details>`;
  status(t("kpi.status", {n: report.items.length}));
}
// The chosen rate survives a new window (the page's own state; app.js keeps none for it).
const KPI = {rate: null};

// Horizontal bars: one per key, its rate as the bar, received cases beside it.
function bars(items, rate, name, t, esc) {
  const row = 26, left = 150, width = 460, right = 110;
  const h = items.length * row + 30;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return `<svg class="chart" data-chart="bars" viewBox="0 0 ${left + width + right} ${h}" role="img" aria-labelledby="kpibarstitle kpibarsdesc">
    <desc id="kpibarsdesc">${esc(items.map((i) => `${name(i.key)} ${pct(i[rate])}`).join(t("sep")))}</desc>
    ${ticks.map((v) => `<line x1="${left + v * width}" x2="${left + v * width}" y1="4" y2="${h - 22}" stroke="#d5dae3"/><text x="${left + v * width}" y="${h - 6}" text-anchor="middle" font-size="11" fill="#4b5567">${v * 100}%</text>`).join("")}
    ${items.map((i, n) => {
      const y = 6 + n * row;
      const v = i[rate];
      const w = v === null ? 0 : Math.max(1, Math.min(1, v) * width);
      return `<g data-key="${esc(i.key)}"><text x="${left - 6}" y="${y + 15}" text-anchor="end" font-size="12" fill="#17202e">${esc(name(i.key))}</text>
        <rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${row - 8}" fill="${v === null ? "#8a94a6" : "#1f4fb0"}" data-value="${v ?? ""}"><title>${esc(`${name(i.key)}: ${pct(v)}`)}</title></rect>
        <text x="${left + width + 6}" y="${y + 15}" font-size="12" fill="#17202e">${esc(pct(v))} · ${esc(t("kpi.n", {n: i.received}))}</text></g>`;
    }).join("")}
  </svg>`;
}

// The total's rates across the window's slices: one line per rate, a legend under it.
function line(trend, t, esc) {
  const left = 44, width = 600, top = 10, height = 200;
  const n = trend.length;
  const x = (i) => left + (n === 1 ? width / 2 : (i * width) / (n - 1));
  const y = (v) => top + (1 - Math.min(1, v)) * height;
  const series = RATES.map((r, k) => {
    const pts = trend.map((s, i) => [i, s.total[r]]).filter(([, v]) => v !== null && v !== undefined);
    const path = pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    return `<g data-rate="${r}"><polyline points="${path}" fill="none" stroke="${COLOURS[k]}" stroke-width="2"/>
      ${pts.map(([i, v]) => `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${COLOURS[k]}"><title>${esc(`${t(`kpi.${r}`)} ${trend[i].a}: ${pct(v)}`)}</title></circle>`).join("")}</g>`;
  }).join("");
  const labels = trend.map((s, i) => (n <= 12 ? `<text x="${x(i).toFixed(1)}" y="${top + height + 16}" text-anchor="middle" font-size="10" fill="#4b5567">${esc(s.a.slice(5))}</text>` : "")).join("");
  const legend = RATES.map((r, k) => `<span><i class="swatch" data-colour="${k}"></i>${esc(t(`kpi.${r}`))}</span>`).join("");
  return `<svg class="chart" data-chart="trend" viewBox="0 0 ${left + width + 20} ${top + height + 26}" role="img" aria-labelledby="kpitrendtitle kpitrenddesc">
    <desc id="kpitrenddesc">${esc(trend.map((s) => `${s.a}: ${RATES.map((r) => `${t(`kpi.${r}`)} ${pct(s.total[r])}`).join(t("sep"))}`).join("; "))}</desc>
    ${[0, 0.5, 1].map((v) => `<line x1="${left}" x2="${left + width}" y1="${y(v)}" y2="${y(v)}" stroke="#d5dae3"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#4b5567">${v * 100}%</text>`).join("")}
    ${series}${labels}
  </svg><div class="legend kpilegend">${legend}</div>`;
}

function table(items, total, name, t, esc) {
  const cols = ["received", "responded_on_time", "solved", "closed_on_time", "satisfied", "rework", "extended", "bounced", ...RATES];
  const cell = (i, c) => (c.endsWith("_rate") || c === "lowest_level_share" ? esc(pct(i[c])) : esc(i[c]));
  return `<table class="kpi"><thead><tr><th scope="col">${esc(t("kpi.key"))}</th>${cols.map((c) => `<th scope="col">${esc(t(`kpi.${c}`))}</th>`).join("")}</tr></thead><tbody>
    ${items.map((i) => `<tr data-key="${esc(i.key)}"><th scope="row">${unit(i.key)}</th>${cols.map((c) => `<td>${cell(i, c)}</td>`).join("")}</tr>`).join("")}
    <tr class="total"><th scope="row">${esc(t("kpi.total"))}</th>${cols.map((c) => `<td>${cell(total, c)}</td>`).join("")}</tr></tbody></table>`;

  // a grid opens its board; a street or an agency is named
  function unit(key) {
    return /^\d{14}$/.test(key) ? `<a href="#grid/${esc(key)}">${esc(key)}</a>` : esc(name(key));
  }
}
