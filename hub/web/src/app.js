// Civic Hub command center: the page over the query API. Bundled with Leaflet by esbuild at
// build time (make web) and served by the hub itself: no CDN, no map tiles (closed networks).
// Every call carries the token and the stated purpose; the API audits each read. Every word
// on the page comes from the catalog in i18n.js.
import {replayLink, showReplay} from "./replay.js";
import L from "leaflet";
import {LANGS, translator} from "./i18n.js";
import {showKpi} from "./kpi.js";

const $ = (sel) => document.querySelector(sel);
const view = $("#view");
const state = {
  token: sessionStorage.getItem("hub.token") || "",
  purpose: sessionStorage.getItem("hub.purpose") || "",
  purposeText: sessionStorage.getItem("hub.purposeText") || "",
  lang: LANGS.includes(localStorage.getItem("hub.lang")) ? localStorage.getItem("hub.lang") : "zh-CN",
  timezone: "Asia/Shanghai",
  purposes: [],
  timer: null,
  feed: null,  // AbortController of the live feed stream
  feedItems: [],  // [kind, data, received] kept to re-render when the language changes
  map: null,
};
let t = translator(state.lang);

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function agency(a) { return `<span class="agency ${esc(a)}">${esc(t.term("agency", a))}</span>`; }
function agencies(list) { return (list || []).map((a) => t.term("agency", a)).join(t("sep")); }
function status(text, error) {
  $("#status").textContent = text;
  $("#status").className = error ? "error" : "";
}

// -- times for people: the district's zone, minutes not microseconds, and how long ago -----
function when(iso, {relative = true, seconds = false} = {}) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  const abs = new Intl.DateTimeFormat(state.lang, {
    timeZone: state.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", ...(seconds ? {second: "2-digit"} : {}), hour12: false,
  }).format(d);
  const rel = relative ? ago(d) : "";
  return `<time datetime="${esc(d.toISOString())}" title="${esc(abs)} (${esc(state.timezone)})">${esc(abs)}${rel ? ` <span class="rel">${esc(rel)}</span>` : ""}</time>`;
}
function ago(d) {
  const s = (d.getTime() - Date.now()) / 1000;
  const fmt = new Intl.RelativeTimeFormat(state.lang, {numeric: "auto"});
  for (const [unit, n] of [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (Math.abs(s) >= n) return fmt.format(Math.round(s / n), unit);
  }
  return fmt.format(Math.round(s), "second");
}
function clock(d) {
  return new Intl.DateTimeFormat(state.lang, {timeZone: state.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}).format(d);
}

// -- the API ---------------------------------------------------------------------------------
function purposeHeader() {
  // Contract 5: a policy code, then "; " and the free text percent-encoded as UTF-8.
  const code = state.purpose || (state.purposes[0] && state.purposes[0].code) || "";
  const text = state.purposeText.trim();
  return text ? `${code}; ${encodeURIComponent(text)}` : code;
}
async function api(path, {purpose = true} = {}) {
  const headers = {"Authorization": `Bearer ${state.token}`};
  if (purpose && purposeHeader()) headers["X-Purpose"] = purposeHeader();
  const r = await fetch(path, {headers});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${r.status}: ${body.detail || body.title || r.statusText}`);
  return body;
}

// -- language ---------------------------------------------------------------------------------
function applyLanguage() {
  t = translator(state.lang);
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  document.title = t("title");
  fillPurposes();
  renderFeed();
}

function fillPurposes() {
  const sel = $("#purpose");
  sel.innerHTML = state.purposes.map((p) => `<option value="${esc(p.code)}">${esc((p.labels && p.labels[state.lang]) || p.label)}</option>`).join("");
  if (state.purposes.some((p) => p.code === state.purpose)) sel.value = state.purpose;
  else if (state.purposes.length) state.purpose = state.purposes[0].code;
  $("#purposetext").value = state.purposeText;
}

// -- routing ----------------------------------------------------------------------------------
function route() {
  const [kind, ...rest] = decodeURIComponent(location.hash.slice(1)).split("/");
  const id = rest.join("/");
  clearInterval(state.timer);
  if (state.map) { state.map.remove(); state.map = null; }
  for (const a of document.querySelectorAll("#nav a")) {
    const here = (a.getAttribute("href") === "#map" && ["", "map", "grid"].includes(kind)) || a.getAttribute("href") === `#${kind}`;
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (kind === "replay" && state.token) { showReplay(id, replayDeps); return; }  // replay.js: its own errors
  if (!state.token) { showSignIn(); return; }
  const show = {person: showPerson, case: showCase, place: showPlace, grid: showGrid, search: showSearch,
    kpi: (arg) => showKpi(arg, {view, api, esc, status, state, t: () => t})}[kind];
  (show ? show(id) : showMap()).catch((e) => {
    view.innerHTML = `<p class="error">${esc(t("error", {error: e.message}))}</p>`;
    status(e.message, true);
  });
}

function showSignIn(error) {
  view.innerHTML = `<h1>${esc(t("signin.title"))}</h1>
    <form id="auth" class="card">
      <label for="token">${esc(t("signin.token"))}</label>
      <input id="token" type="password" autocomplete="off" required aria-describedby="tokenhint">
      <p id="tokenhint" class="hint">${esc(t("signin.token.hint"))}</p>
      <button type="submit">${esc(t("signin.submit"))}</button>
      ${error ? `<p class="error" role="alert">${esc(t("signin.failed", {error}))}</p>` : ""}
    </form>`;
  status(t("status.ready"));
  $("#auth").onsubmit = (e) => {
    e.preventDefault();
    signIn($("#token").value.trim());
  };
}

async function signIn(token) {
  state.token = token;
  try {
    state.purposes = (await api(`/v1/purposes?lang=${encodeURIComponent(state.lang)}`, {purpose: false})).items;
  } catch (e) {
    state.token = "";
    sessionStorage.removeItem("hub.token");
    signedIn();
    showSignIn(e.message);
    return;
  }
  sessionStorage.setItem("hub.token", token);
  fillPurposes();
  signedIn();
  route();
}

function signedIn() {
  for (const id of ["#nav", "#purposeform", "#search", "#signout", "#feedpanel"]) $(id).hidden = !state.token;
  if (state.token) followFeed();
  else if (state.feed) state.feed.abort();
}

// -- the grid map: boundaries from /v1/map/grids, coloured by the SLA levels of open cases -------
// Red if any open case is red on the hub's clock, else yellow if any is yellow, else green;
// grey when no open case has a clock (the API's `level`, recomputed from `sla` if absent).
function level(p) {
  if (p.level) return p.level;
  const s = p.sla || {};
  return s.red ? "red" : s.yellow ? "yellow" : s.green ? "green" : "none";
}
function slaCounts(p) {
  const s = p.sla || {};
  return ["red", "yellow", "green"].map((k) => `<span class="slacount ${k}" title="${esc(t(`map.${k}`))}">${s[k] ?? 0}</span>`).join(" ");
}
const COLOURS = {green: "#2e7d4f", yellow: "#d8a300", red: "#c62828", none: "#8a94a6"};

async function showMap() {
  view.innerHTML = `<h1>${esc(t("map.title"))}</h1>
    <p class="hint">${esc(t("map.caption"))}</p>
    <div class="mapwrap">
      <div id="map" role="region" aria-label="${esc(t("map.title"))}"></div>
      <div class="legend" role="group" aria-label="${esc(t("map.legend"))}">
        ${["green", "yellow", "red", "none"].map((k) => `<span><i class="swatch ${k}"></i>${esc(t(`map.${k}`))}</span>`).join("")}
      </div>
    </div>
    <p class="hint" id="mapsource"></p>
    <h2>${esc(t("map.list"))}</h2>
    <div id="gridlist"></div>`;
  const map = L.map("map", {attributionControl: false, zoomSnap: 0.25, minZoom: 9, maxZoom: 18, keyboard: true});
  map.zoomControl.remove();
  L.control.zoom({zoomInTitle: t("map.zoomin"), zoomOutTitle: t("map.zoomout")}).addTo(map);
  state.map = map;
  const base = L.layerGroup().addTo(map);
  const grids = L.layerGroup().addTo(map);
  let fitted = false;
  const render = async () => {
    const fc = await api("/v1/map/grids");
    base.clearLayers();
    grids.clearLayers();
    L.geoJSON(fc.base, {interactive: false, style: {color: "#37474f", weight: 2.5, fill: true, fillColor: "#eef1f5", fillOpacity: 1}}).addTo(base);
    const layer = L.geoJSON(fc, {
      style: (f) => ({color: "#ffffff", weight: 1.2, fillColor: COLOURS[level(f.properties)], fillOpacity: 0.78}),
      onEachFeature: (f, lyr) => {
        const p = f.properties;
        const label = t("map.grid.label", {grid: p.grid, open: p.open ?? 0, overdue: p.overdue ?? 0});
        lyr.bindTooltip(esc(label), {sticky: true});
        lyr.on("click", () => { location.hash = `grid/${p.grid}`; });
        lyr.on("add", () => {
          const el = lyr.getElement();
          if (!el) return;
          el.setAttribute("tabindex", "0");
          el.setAttribute("role", "link");
          el.setAttribute("aria-label", label);
          el.dataset.grid = p.grid;
          el.dataset.level = level(p);
          el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); location.hash = `grid/${p.grid}`; } });
        });
      },
    }).addTo(grids);
    // Places an agency gave coordinates for: points over the grids, each opening its place.
    L.geoJSON(fc.places || {type: "FeatureCollection", features: []}, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, {radius: 3, color: "#1a237e", weight: 1, fillColor: "#ffffff", fillOpacity: 0.9}),
      onEachFeature: (f, lyr) => {
        lyr.on("click", () => { location.hash = `place/${f.properties.place_id}`; });
        lyr.on("add", () => { const el = lyr.getElement(); if (el) { el.dataset.place = f.properties.place_id; el.setAttribute("aria-hidden", "true"); } });
      },
    }).addTo(grids);
    if (!fitted && layer.getLayers().length) {
      const bounds = layer.getBounds();
      map.fitBounds(bounds, {padding: [12, 12]});
      // A desk and a wall show the same district whole: refit when the window changes.
      map.on("resize", () => map.fitBounds(bounds, {padding: [12, 12], animate: false}));
      fitted = true;
    }
    if (!fitted) map.setView([39.93, 116.45], 12);
    const rank = (p) => [p.sla?.red ?? 0, p.sla?.yellow ?? 0, p.overdue ?? 0];
    const items = fc.features.map((f) => f.properties).sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
    });
    $("#mapsource").textContent = t(`map.source.${fc.source}`) + (fc.unmapped.length ? " · " + t("map.unmapped", {grids: fc.unmapped.join(t("sep"))}) : "");
    $("#gridlist").innerHTML = `<table class="grids"><thead><tr><th scope="col">${esc(t("col.grid"))}</th><th scope="col">${esc(t("col.open"))}</th><th scope="col">${esc(t("col.overdue"))}</th><th scope="col">${esc(t("col.closed"))}</th><th scope="col">${esc(t("col.share"))}</th><th scope="col">${esc(t("col.sla"))}</th></tr></thead><tbody>
      ${items.map((p) => `<tr data-grid="${esc(p.grid)}" data-level="${level(p)}"><td><i class="swatch ${level(p)}"></i><a href="#grid/${esc(p.grid)}">${esc(p.grid)}</a></td><td>${p.open ?? 0}</td><td>${p.overdue ?? 0}</td><td>${p.closed ?? 0}</td><td>${Math.round((p.overdue_share ?? 0) * 100)}%</td><td>${slaCounts(p)}</td></tr>`).join("")}</tbody></table>`;
    status(t("map.status", {n: items.length, time: clock(new Date())}));
  };
  await render();
  state.timer = setInterval(() => render().catch((e) => status(e.message, true)), 5000);
}

function caseRows(cases) {
  return `<table><thead><tr><th scope="col">${esc(t("col.case"))}</th><th scope="col">${esc(t("col.category"))}</th><th scope="col">${esc(t("col.stage"))}</th><th scope="col">${esc(t("col.due"))}</th><th scope="col">${esc(t("col.overdue"))}</th></tr></thead><tbody>
    ${cases.map((c) => `<tr><td><a href="#case/${esc(c.case_id)}">${esc(c.case_id)}</a></td><td>${esc(t.term("category", c.category))}</td><td>${esc(t.term("stage", c.stage))}</td><td>${when(c.due_at)}</td><td>${c.overdue ? `<b class="error">${esc(t("yes"))}</b>` : ""}</td></tr>`).join("")}</tbody></table>`;
}

async function showGrid(grid) {
  const b = await api(`/v1/grids/${encodeURIComponent(grid)}`);
  const cases = (await api(`/v1/cases?grid=${encodeURIComponent(grid)}&limit=200`)).items;
  view.innerHTML = `<h1>${esc(t("grid.title", {grid}))}</h1>
    <p>${esc(t("grid.summary", {open: b.cases.open, overdue: b.cases.overdue, closed: b.cases.closed, incidents: b.incidents.open, residents: b.residents}))}</p>
    <h2>${esc(t("grid.cases"))}</h2>
    ${cases.length ? caseRows(cases) : `<p>${esc(t("grid.none"))}</p>`}`;
  status(t("status.grid", {grid}));
}

// -- search --------------------------------------------------------------------------------
async function showSearch(q) {
  if (!q) {
    view.innerHTML = `<h1>${esc(t("nav.search"))}</h1><p class="hint">${esc(t("search.hint"))}</p>`;
    $("#q").focus();
    return;
  }
  if (/^C-[0-9a-f]+$/.test(q)) { location.hash = `case/${q}`; return; }
  const param = /^[0-9]{17}[0-9Xx]$/.test(q) ? "national_id" : "name";
  const found = (await api(`/v1/persons?${param}=${encodeURIComponent(q)}`)).items;
  if (found.length === 1 && found[0].match === "exact") { location.hash = `person/${found[0].person_id}`; return; }
  view.innerHTML = `<h1>${esc(t("search.title", {q}))}</h1>` + (found.length ? `<table><thead><tr><th scope="col">${esc(t("col.person"))}</th><th scope="col">${esc(t("col.names"))}</th><th scope="col">${esc(t("col.match"))}</th><th scope="col">${esc(t("col.birth"))}</th><th scope="col">${esc(t("col.records"))}</th></tr></thead><tbody>${found.map((p) => `<tr><td><a href="#person/${esc(p.person_id)}">${esc(p.person_id)}</a></td><td>${esc(p.names.join(t("sep")))}</td><td>${esc(t(`match.${p.match}`))}</td><td>${esc(p.birth_date)}</td><td>${p.records.map((r) => agency(r.agency)).join(" ")}</td></tr>`).join("")}</tbody></table>` : `<p>${esc(t("search.none"))}</p>`);
  status(t("status.found", {n: found.length}));
}

// -- a person, with where each field came from -----------------------------------------------
async function showPerson(id) {
  const p = await api(`/v1/persons/${encodeURIComponent(id)}`);
  view.innerHTML = personHtml(p);
  $("#view h1").insertAdjacentHTML("afterend", replayLink("person", p.person_id, replayDeps));
  status(t("status.person", {id: p.person_id}));
}
function personHtml(p) {
  const prov = Object.entries(p.provenance).map(([f, s]) => `<tr><td>${esc(t.term("field", f))}</td><td>${agency(s.agency)}</td><td>${esc(s.event_id)}</td><td>${when(s.time)}</td></tr>`).join("");
  const nid = p.national_id || ((p.unverified_national_ids || []).join(t("sep")) + t("person.unverified"));
  return `<h1 class="person-name">${esc(p.names.join(" / "))}</h1>
    <table><tbody>
    <tr><th scope="row">${esc(t("person.id"))}</th><td>${esc(p.person_id)}</td></tr>
    <tr><th scope="row">${esc(t("person.national_id"))}</th><td>${esc(nid)}</td></tr>
    <tr><th scope="row">${esc(t("person.gender_birth"))}</th><td>${esc(p.gender ? t(`gender.${p.gender}`) : "")} ${esc(p.birth_date)}</td></tr>
    <tr><th scope="row">${esc(t("person.status"))}</th><td>${esc(t.term("status", p.status))}</td></tr>
    <tr><th scope="row">${esc(t("person.phones"))}</th><td>${esc((p.phones || []).join(t("sep")))}</td></tr>
    <tr><th scope="row">${esc(t("person.records"))}</th><td>${p.records.map((r) => `${agency(r.agency)} ${esc(t.term("kind", r.kind))} ${r.id === null ? esc(t("person.restricted", {ask: agencies(r.ask)})) : esc(r.id)}`).join("<br>")}</td></tr>
    </tbody></table>
    <h2>${esc(t("person.addresses"))}</h2><table class="addresses"><tbody>${p.addresses.map((a) => `<tr><td><a href="#place/${esc(a.place_id)}">${esc(a.text)}</a></td><td>${a.current ? esc(t("person.current")) : ""}</td></tr>`).join("")}</tbody></table>
    ${p.withheld ? `<p class="withheld">${esc(t("person.restricted", {ask: agencies(p.withheld.ask)}))}</p>` : ""}
    <h2>${esc(t("person.cases"))}</h2><table class="cases"><tbody>${p.cases.map((c) => c.case_id ? `<tr><td><a href="#case/${esc(c.case_id)}">${esc(c.case_id)}</a></td><td>${agency(c.agency)}</td><td>${esc(t.term("role", c.role))}</td></tr>` : `<tr><td>${esc(t("person.restricted_case"))}</td><td>${agency(c.agency)}</td><td>${esc(t("person.ask", {ask: agencies(c.ask)}))}</td></tr>`).join("")}</tbody></table>
    <h2 id="provenance">${esc(t("person.provenance"))}</h2><table><thead><tr><th scope="col">${esc(t("col.field"))}</th><th scope="col">${esc(t("col.agency"))}</th><th scope="col">${esc(t("col.event"))}</th><th scope="col">${esc(t("col.time"))}</th></tr></thead><tbody>${prov}</tbody></table>`;
}

// -- a case thread across agencies, with its timeline -------------------------------------------
function recordOf(summary) {
  const m = /\b(?:case|incident) (\S+)/.exec(summary || "");
  return m ? m[1] : "";
}

async function showCase(id) {
  const c = await api(`/v1/cases/${encodeURIComponent(id)}`);
  const items = c.status === "restricted" ? null : (await api(`/v1/cases/${encodeURIComponent(id)}/timeline`)).items;
  view.innerHTML = caseHtml(c, items);
  $("#view h1").insertAdjacentHTML("afterend", replayLink("case", c.case_id, replayDeps));
  status(t("status.case", {id: c.case_id}));
}
// The thread as read (live or replayed); its timeline table when given one.
function caseHtml(c, items) {
  if (c.status === "restricted") return `<h1>${esc(t("case.title", {id: c.case_id}))}</h1><p>${esc(t("case.sealed", {ask: agencies(c.ask)}))}</p>`;
  return `<h1>${esc(t("case.title", {id: c.case_id}))} <small>${esc(t.term("category", c.category))}</small></h1>
    <table><tbody><tr><th scope="row">${esc(t("case.stage"))}</th><td>${esc(t.term("stage", c.stage))}${esc(t("paren", {x: t.term("status", c.status)}))}${c.overdue ? ` <b class="error">${esc(t("case.overdue"))}</b>` : ""}</td></tr>
    <tr><th scope="row">${esc(t("case.due"))}</th><td>${when(c.due_at)}</td></tr>
    <tr><th scope="row">${esc(t("case.grid"))}</th><td><a href="#grid/${esc(c.grid)}">${esc(c.grid)}</a></td></tr>
    <tr><th scope="row">${esc(t("case.refs"))}</th><td>${c.refs.map((r) => `${agency(r.agency)} ${esc(t.term("kind", r.kind))} ${esc(r.id)}`).join("<br>")}</td></tr>
    <tr><th scope="row">${esc(t("case.persons"))}</th><td>${c.persons.map((p) => p.person_id ? `<a href="#person/${esc(p.person_id)}">${esc(p.person_id)}</a> ${esc(t.term("role", p.role))}${esc(t("paren", {x: t.term("agency", p.agency)}))}` : esc(t("case.restricted_person", {agency: t.term("agency", p.agency), ask: agencies(p.ask)}))).join("<br>")}</td></tr>
    ${c.withheld ? `<tr><th scope="row">${esc(t("case.persons"))}</th><td>${esc(t("person.restricted", {ask: agencies(c.withheld.ask)}))}</td></tr>` : ""}
    <tr><th scope="row">${esc(t("case.places"))}</th><td>${c.places.map((p) => `<a href="#place/${esc(p.place_id)}">${esc(p.text)}</a>`).join("<br>")}</td></tr></tbody></table>
    ${items ? `<h2>${esc(t("case.timeline"))}</h2>
    <table class="timeline"><thead><tr><th scope="col">${esc(t("col.time"))}</th><th scope="col">${esc(t("col.agency"))}</th><th scope="col">${esc(t("col.what"))}</th></tr></thead><tbody>${items.map((i) => `<tr><td>${when(i.time)}</td><td>${agency(i.agency)}</td><td title="${esc(i.summary)}">${esc(t.term("type", i.type))} ${esc(recordOf(i.summary))}</td></tr>`).join("")}</tbody></table>` : ""}`;
}

async function showPlace(id) {
  const p = await api(`/v1/places/${encodeURIComponent(id)}`);
  const a = p.address || {};
  view.innerHTML = `<h1>${esc(t("place.title", {id: p.place_id}))}</h1><table><tbody>
    ${Object.entries(a).map(([k, v]) => `<tr><th scope="row">${esc(t.term("part", k))}</th><td>${esc(v)}</td></tr>`).join("")}
    <tr><th scope="row">${esc(t("place.grid"))}</th><td><a href="#grid/${esc(p.grid)}">${esc(p.grid)}</a></td></tr>
    <tr><th scope="row">${esc(t("place.spellings"))}</th><td>${p.spellings.map(esc).join("<br>")}</td></tr>
    <tr><th scope="row">${esc(t("place.residents"))}</th><td>${p.residents.map((r) => `<a href="#person/${esc(r)}">${esc(r)}</a>`).join("<br>")}</td></tr>
    <tr><th scope="row">${esc(t("place.cases"))}</th><td>${p.cases.map((c) => `<a href="#case/${esc(c)}">${esc(c)}</a>`).join("<br>")}</td></tr></tbody></table>`;
  status(t("status.place", {id: p.place_id}));
}

// The replay page (replay.js) renders with the views above.
const replayDeps = {view, state, esc, when, agency, status, personHtml, caseHtml, t: () => t};

// -- live feed: server-sent events from /v1/feed, read with fetch so the token goes in a header
function feedLine([kind, d, received]) {
  const at = `<span class="at">${esc(clock(received))}</span>`;
  const link = `<a href="#case/${esc(d.case_id)}">${esc(d.case_id)}</a>`;
  if (d.status === "restricted") return `<div class="item ${esc(kind)}">${at} · ${esc(t(`feed.${kind}`))}: ${esc(t("feed.sealed", {ask: agencies(d.ask)}))}</div>`;
  const grid = d.grid ? ` · <a href="#grid/${esc(d.grid)}">${esc(t("feed.in_grid", {grid: d.grid}))}</a>` : "";
  const cat = esc(t.term("category", d.category));
  if (kind === "overdue") return `<div class="item overdue">${at} · <b>${esc(t("feed.overdue"))}</b> ${link} ${cat}${grid} · ${esc(t("feed.due", {due: ""}))}${when(d.due_at)}${esc(t("paren", {x: t.term("stage", d.stage)}))}</div>`;
  if (kind === "referral") return `<div class="item referral">${at} · <b>${esc(t("feed.referral"))}</b> ${agency(d.agency)} → ${agency(d.to_agency)} ${link} ${cat}${grid}</div>`;
  return `<div class="item case">${at} · <b>${esc(t("feed.new"))}</b> ${agency(d.agency)} ${link} ${esc(t.term("type", d.type))} ${cat}${grid}</div>`;
}
function renderFeed() {
  const box = $("#feed");
  if (box) box.innerHTML = state.feedItems.map(feedLine).join("");
  const fs = $("#feedstate");
  if (fs && fs.dataset.key) fs.textContent = t(fs.dataset.key);
}

function parseFrame(frame) {
  const ev = {event: "message", data: "", id: null};
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const k = i < 0 ? line : line.slice(0, i);
    const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (k === "data") ev.data += (ev.data ? "\n" : "") + v;
    else if (k === "event") ev.event = v;
    else if (k === "id") ev.id = v;
  }
  return ev;
}

async function followFeed() {
  if (state.feed) state.feed.abort();
  const ctl = new AbortController();
  state.feed = ctl;
  const feedState = (key, err) => { const fs = $("#feedstate"); fs.dataset.key = key; fs.textContent = t(key); fs.className = err ? "error" : ""; };
  feedState("feed.connecting");
  let last = null;
  while (!ctl.signal.aborted) {
    try {
      const headers = {"Authorization": `Bearer ${state.token}`, "Accept": "text/event-stream"};
      if (purposeHeader()) headers["X-Purpose"] = purposeHeader();
      if (last) headers["Last-Event-ID"] = last;
      const r = await fetch("/v1/feed", {headers, signal: ctl.signal});
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(`${r.status}: ${body.detail || r.statusText}`);
      }
      feedState("feed.live");
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += dec.decode(value, {stream: true}).replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const ev = parseFrame(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (ev.id) last = ev.id;
          if (!ev.data) continue;
          const item = [ev.event, JSON.parse(ev.data), new Date()];
          state.feedItems.unshift(item);
          if (state.feedItems.length > 300) state.feedItems.pop();
          const box = $("#feed");
          box.insertAdjacentHTML("afterbegin", feedLine(item));
          while (box.children.length > 300) box.lastElementChild.remove();
        }
      }
      feedState("feed.reconnecting", true);
    } catch (e) {
      if (ctl.signal.aborted) return;
      feedState("feed.reconnecting", true);
      status(e.message, true);
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// -- wiring -------------------------------------------------------------------------------------
$("#purpose").onchange = (e) => { state.purpose = e.target.value; sessionStorage.setItem("hub.purpose", state.purpose); };
$("#purposetext").onchange = (e) => { state.purposeText = e.target.value; sessionStorage.setItem("hub.purposeText", state.purposeText); };
$("#search").onsubmit = (e) => { e.preventDefault(); location.hash = `search/${$("#q").value.trim()}`; };
$("#lang").onclick = () => {
  state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("hub.lang", state.lang);
  applyLanguage();
  route();
};
$("#signout").onclick = () => {
  state.token = "";
  sessionStorage.removeItem("hub.token");
  state.feedItems = [];
  signedIn();
  location.hash = "";
  route();
};
window.onhashchange = () => { route(); view.focus({preventScroll: true}); };

async function start() {
  try {
    const s = await (await fetch("/ui/settings.json")).json();
    if (s.timezone) state.timezone = s.timezone;
  } catch { /* the default zone stands */ }
  const params = new URLSearchParams(location.search);
  const lang = params.get("lang");
  if (LANGS.includes(lang)) state.lang = lang;
  applyLanguage();
  const fromLink = params.get("token");
  if (fromLink) history.replaceState(null, "", "/" + location.hash);
  const token = fromLink || state.token;
  if (token) await signIn(token);
  else { signedIn(); route(); }
}
start();
