// Civic Hub command center: a dependency-free page over the query API (closed networks,
// no CDN). Every call carries the token and the stated purpose; the API audits each read.
"use strict";

const $ = (sel) => document.querySelector(sel);
const view = $("#view");
const state = {
  token: sessionStorage.getItem("hub.token") || "",
  purpose: sessionStorage.getItem("hub.purpose") || "duty watch",
  timer: null,
  feed: null,  // AbortController of the live feed stream
};

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function agency(a) { return `<span class="agency ${esc(a)}">${esc(a)}</span>`; }
function status(text, error) {
  $("#status").textContent = text;
  $("#status").className = error ? "error" : "";
}

async function api(path) {
  const r = await fetch(path, {headers: {"Authorization": `Bearer ${state.token}`, "X-Purpose": state.purpose}});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${r.status}: ${body.detail || body.title || r.statusText}`);
  return body;
}

function route() {
  const [kind, id] = decodeURIComponent(location.hash.slice(1)).split("/");
  clearInterval(state.timer);
  if (!state.token) return;
  const show = {person: showPerson, case: showCase, place: showPlace, grid: showGrid, search: showSearch}[kind];
  (show ? show(id) : showDashboard()).catch((e) => { view.innerHTML = `<p class="error">${esc(e.message)}</p>`; status(e.message, true); });
}

// -- dashboard: grid map by district and street, drawn from the grid codes -------------------
async function showDashboard() {
  const render = async () => {
    const grids = (await api("/v1/grids")).items;
    const districts = {};
    for (const g of grids) (districts[g.grid.slice(0, 6)] ||= []).push(g);
    let html = `<h2>Grids: open and overdue city cases</h2><div class="map">`;
    for (const [d, gs] of Object.entries(districts)) {
      html += `<div class="district"><h3>district ${esc(d)}</h3><div class="tiles">`;
      for (const g of gs) {
        const cls = g.overdue > 2 ? "alert" : g.overdue > 0 ? "warn" : "";
        html += `<div class="tile ${cls}" data-grid="${esc(g.grid)}" title="${esc(g.grid)}"><b>${esc(g.grid.slice(6))}</b>open ${g.open}<br>overdue ${g.overdue}</div>`;
      }
      html += `</div></div>`;
    }
    html += `</div>`;
    view.innerHTML = html;
    view.querySelectorAll(".tile").forEach((t) => t.onclick = () => { location.hash = `grid/${t.dataset.grid}`; });
    status(`live · ${grids.length} grids · updated ${new Date().toLocaleTimeString()}`);
  };
  await render();
  state.timer = setInterval(() => render().catch((e) => status(e.message, true)), 5000);
}

async function showGrid(grid) {
  const b = await api(`/v1/grids/${encodeURIComponent(grid)}`);
  const cases = (await api(`/v1/cases?grid=${encodeURIComponent(grid)}&limit=200`)).items;
  view.innerHTML = `<h2>Grid ${esc(grid)}</h2>
    <p>open ${b.cases.open} · overdue ${b.cases.overdue} · closed ${b.cases.closed} · incidents open ${b.incidents.open} · residents ${b.residents}</p>
    <table><tr><th>case</th><th>category</th><th>stage</th><th>due</th><th>overdue</th></tr>
    ${cases.map((c) => `<tr><td><a href="#case/${esc(c.case_id)}">${esc(c.case_id)}</a></td><td>${esc(c.category)}</td><td>${esc(c.stage)}</td><td>${esc(c.due_at)}</td><td>${c.overdue ? "yes" : ""}</td></tr>`).join("")}</table>`;
  status(`grid ${grid}`);
}

// -- search --------------------------------------------------------------------------------
async function showSearch(q) {
  if (/^C-[0-9a-f]+$/.test(q)) { location.hash = `case/${q}`; return; }
  const param = /^[0-9]{17}[0-9Xx]$/.test(q) ? "national_id" : "name";
  const found = (await api(`/v1/persons?${param}=${encodeURIComponent(q)}`)).items;
  if (found.length === 1 && found[0].match === "exact") { location.hash = `person/${found[0].person_id}`; return; }
  view.innerHTML = `<h2>Persons matching “${esc(q)}”</h2>` + (found.length ? `<table><tr><th>person</th><th>names</th><th>match</th><th>birth</th><th>records</th></tr>${found.map((p) => `<tr><td><a href="#person/${esc(p.person_id)}">${esc(p.person_id)}</a></td><td>${esc(p.names.join(", "))}</td><td>${esc(p.match)}</td><td>${esc(p.birth_date)}</td><td>${p.records.map((r) => agency(r.agency)).join(" ")}</td></tr>`).join("")}</table>` : `<p>No one.</p>`);
  status(`${found.length} found`);
}

// -- a person, with where each field came from -----------------------------------------------
async function showPerson(id) {
  const p = await api(`/v1/persons/${encodeURIComponent(id)}`);
  const prov = Object.entries(p.provenance).map(([f, s]) => `<tr><td>${esc(f)}</td><td>${agency(s.agency)}</td><td>${esc(s.event_id)}</td><td>${esc(s.time)}</td></tr>`).join("");
  view.innerHTML = `<h2>${esc(p.names.join(" / "))} <small>${esc(p.person_id)}</small></h2>
    <table><tr><th>identity number</th><td>${esc(p.national_id || (p.unverified_national_ids || []).join(", ") + " (unverified)")}</td></tr>
    <tr><th>gender, birth</th><td>${esc(p.gender)} ${esc(p.birth_date)}</td></tr>
    <tr><th>status</th><td>${esc(p.status)}</td></tr>
    <tr><th>phones</th><td>${esc(p.phones.join(", "))}</td></tr>
    <tr><th>records</th><td>${p.records.map((r) => `${agency(r.agency)} ${esc(r.kind)} ${r.id === null ? "(restricted, ask " + r.ask.join(", ") + ")" : esc(r.id)}`).join("<br>")}</td></tr></table>
    <h3>Addresses</h3><table>${p.addresses.map((a) => `<tr><td><a href="#place/${esc(a.place_id)}">${esc(a.text)}</a></td><td>${a.current ? "current" : ""}</td></tr>`).join("")}</table>
    <h3>Cases</h3><table>${p.cases.map((c) => c.case_id ? `<tr><td><a href="#case/${esc(c.case_id)}">${esc(c.case_id)}</a></td><td>${agency(c.agency)}</td><td>${esc(c.role)}</td></tr>` : `<tr><td>a restricted record</td><td>${agency(c.agency)}</td><td>ask ${c.ask.map(agency).join(" ")}</td></tr>`).join("")}</table>
    <h3>Where each field came from</h3><table><tr><th>field</th><th>agency</th><th>event</th><th>time</th></tr>${prov}</table>`;
  status(`person ${p.person_id}`);
}

// -- a case thread across agencies, with its timeline -------------------------------------------
async function showCase(id) {
  const c = await api(`/v1/cases/${encodeURIComponent(id)}`);
  if (c.status === "restricted") {
    view.innerHTML = `<h2>Case ${esc(c.case_id)}</h2><p>This case is sealed. Ask: ${c.ask.map(agency).join(" ")}</p>`;
    status(`case ${c.case_id} (sealed)`);
    return;
  }
  const t = (await api(`/v1/cases/${encodeURIComponent(id)}/timeline`)).items;
  view.innerHTML = `<h2>Case thread ${esc(c.case_id)} <small>${esc(c.category)}</small></h2>
    <table><tr><th>stage</th><td>${esc(c.stage)} (${esc(c.status)})${c.overdue ? ' <b class="error">overdue</b>' : ""}</td></tr>
    <tr><th>due</th><td>${esc(c.due_at)}</td></tr><tr><th>grid</th><td><a href="#grid/${esc(c.grid)}">${esc(c.grid)}</a></td></tr>
    <tr><th>agency records</th><td>${c.refs.map((r) => `${agency(r.agency)} ${esc(r.kind)} ${esc(r.id)}`).join("<br>")}</td></tr>
    <tr><th>persons</th><td>${c.persons.map((p) => p.person_id ? `<a href="#person/${esc(p.person_id)}">${esc(p.person_id)}</a> ${esc(p.role)} (${esc(p.agency)})` : `restricted (${esc(p.agency)}), ask ${p.ask.join(", ")}`).join("<br>")}</td></tr>
    <tr><th>places</th><td>${c.places.map((p) => `<a href="#place/${esc(p.place_id)}">${esc(p.text)}</a>`).join("<br>")}</td></tr></table>
    <h3>Timeline, every agency, in event time</h3>
    <table class="timeline"><tr><th>time</th><th>agency</th><th>what happened</th></tr>${t.map((i) => `<tr><td>${esc(i.time)}</td><td>${agency(i.agency)}</td><td>${esc(i.summary)}</td></tr>`).join("")}</table>`;
  status(`case ${c.case_id}`);
}

async function showPlace(id) {
  const p = await api(`/v1/places/${encodeURIComponent(id)}`);
  const a = p.address || {};
  view.innerHTML = `<h2>Place ${esc(p.place_id)}</h2><table>
    ${Object.entries(a).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}
    <tr><th>grid</th><td><a href="#grid/${esc(p.grid)}">${esc(p.grid)}</a></td></tr>
    <tr><th>written as</th><td>${p.spellings.map(esc).join("<br>")}</td></tr>
    <tr><th>residents</th><td>${p.residents.map((r) => `<a href="#person/${esc(r)}">${esc(r)}</a>`).join("<br>")}</td></tr>
    <tr><th>cases</th><td>${p.cases.map((c) => `<a href="#case/${esc(c)}">${esc(c)}</a>`).join("<br>")}</td></tr></table>`;
  status(`place ${p.place_id}`);
}


// -- live feed: server-sent events from /v1/feed, read with fetch so the token goes in a header
function feedLine(kind, d) {
  const when = new Date().toLocaleTimeString();
  const link = `<a href="#case/${esc(d.case_id)}">${esc(d.case_id)}</a>`;
  if (d.status === "restricted") return `<div class="item ${kind}">${when} · ${kind}: a sealed case, ask ${(d.ask || []).map(agency).join(" ")}</div>`;
  const grid = d.grid ? ` in grid <a href="#grid/${esc(d.grid)}">${esc(d.grid)}</a>` : "";
  if (kind === "overdue") return `<div class="item overdue">${when} · <b>overdue</b> ${link} ${esc(d.category)}${grid}, due ${esc(d.due_at)} (${esc(d.stage)})</div>`;
  if (kind === "referral") return `<div class="item referral">${when} · <b>referral</b> ${agency(d.agency)} → ${agency(d.to_agency)} ${link} ${esc(d.category)}${grid}</div>`;
  return `<div class="item case">${when} · <b>new</b> ${agency(d.agency)} ${link} ${esc(d.summary)}${grid}</div>`;
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
  const feedState = (t, err) => { $("#feedstate").textContent = t; $("#feedstate").className = err ? "error" : ""; };
  let last = null;
  while (!ctl.signal.aborted) {
    try {
      const headers = {"Authorization": `Bearer ${state.token}`, "Accept": "text/event-stream"};
      if (last) headers["Last-Event-ID"] = last;
      const r = await fetch("/v1/feed", {headers, signal: ctl.signal});
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(`${r.status}: ${body.detail || r.statusText}`);
      }
      feedState("live");
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
          const box = $("#feed");
          box.insertAdjacentHTML("afterbegin", feedLine(ev.event, JSON.parse(ev.data)));
          while (box.children.length > 300) box.lastElementChild.remove();
        }
      }
      feedState("reconnecting…", true);
    } catch (e) {
      if (ctl.signal.aborted) return;
      feedState(`reconnecting (${e.message})`, true);
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}

function signedIn() {
  $("#feedpanel").hidden = !state.token;
  if (state.token) followFeed();
}

$("#auth").onsubmit = (e) => {
  e.preventDefault();
  state.token = $("#token").value.trim();
  state.purpose = $("#purpose").value.trim();
  sessionStorage.setItem("hub.token", state.token);
  sessionStorage.setItem("hub.purpose", state.purpose);
  signedIn();
  route();
};
$("#search").onsubmit = (e) => { e.preventDefault(); location.hash = `search/${$("#q").value.trim()}`; };
window.onhashchange = route;
$("#token").value = state.token;
$("#purpose").value = state.purpose;
const fromLink = new URLSearchParams(location.search).get("token");
if (fromLink) { state.token = fromLink; $("#token").value = fromLink; sessionStorage.setItem("hub.token", fromLink); history.replaceState(null, "", "/" + location.hash); }
signedIn();
route();
