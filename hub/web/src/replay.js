// The replay page (issue 12, contract section 8): a person or a case thread as the hub knew
// it at an instant chosen on a slider over known_at, what changed between then and now, and
// the multi-agency chronology beside it with the instant marked. #replay/person/P-…[/ISO] or
// #replay/case/C-…[/ISO]. Replay is for investigators and auditors: every call carries the
// purpose and the investigation's reference (X-Case-Ref), both asked for here and kept for
// the session. The views come from app.js (deps), so a replayed dossier reads like the live.

const KEY = {ref: "hub.replay.caseRef", purpose: "hub.replay.purpose", denied: "hub.replay.denied"};
const KINDS = {person: "persons", case: "cases"};
let current = 0;  // the latest render: answers to an earlier one are dropped

// -- instants: the slider counts milliseconds. The hub stamps what it took in at the end of
// the log's millisecond (…693999 for a record logged at …693, which the chronology and the
// diff say as …693000), and reads carry microseconds: so the instant of an item is the first
// whole millisecond after it, at which the dossier includes it.
function ms(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : Math.floor(t) + 1;
}
function exact(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : t;
}
const isoOf = (n) => new Date(n).toISOString();

function plain(d, n, {date = false} = {}) {
  const s = d.state;
  return new Intl.DateTimeFormat(s.lang, {
    timeZone: s.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    ...(date ? {} : {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}),
  }).format(new Date(n));
}

// -- the API, with the replay's own purpose and case reference --------------------------------
function session(d) {
  const codes = d.state.purposes.map((p) => p.code);
  let purpose = sessionStorage.getItem(KEY.purpose) || "";
  if (!codes.includes(purpose)) purpose = codes.includes("investigation") ? "investigation" : (codes[0] || "");
  return {ref: sessionStorage.getItem(KEY.ref) || "", purpose};
}

async function call(d, path) {
  const s = session(d);
  const r = await fetch(path, {headers: {
    "Authorization": `Bearer ${d.state.token}`, "X-Purpose": s.purpose, "X-Case-Ref": encodeURIComponent(s.ref),
  }});
  const body = await r.json().catch(() => ({}));
  return {ok: r.ok, status: r.status, body, message: `${r.status}: ${body.detail || body.title || r.statusText}`};
}

// The link from the live person and case views; gone for the session once this token was refused.
// Who was refused, as a digest of the token (FNV-1a): another token signed in here may replay.
function tokenMark(d) {
  let h = 0x811c9dc5;
  for (const c of d.state.token) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16);
}
export function replayLink(kind, id, d) {
  if (sessionStorage.getItem(KEY.denied) === tokenMark(d)) return "";
  return `<p class="replaylink"><a href="#replay/${kind}/${d.esc(encodeURIComponent(id))}">${d.esc(d.t()("replay.link"))}</a></p>`;
}

// -- values of a diff, for people: lists joined, records by their words, null as not known ----
function value(d, v) {
  const t = d.t();
  if (v === null || v === undefined) return t("replay.unknown");
  if (Array.isArray(v)) return v.length ? v.map((x) => value(d, x)).join(t("sep")) : t("replay.empty");
  if (typeof v === "boolean") return v ? t("yes") : t("replay.no");
  if (typeof v === "object") {
    for (const k of ["text", "case_id", "person_id", "place_id", "id", "name"]) {
      if (v[k]) return [v.agency && t.term("agency", v.agency), v[k], v.role && t.term("role", v.role)].filter(Boolean).join(" ");
    }
    return Object.entries(v).map(([k, x]) => `${fieldName(d, k)}: ${value(d, x)}`).join(t("sep"));
  }
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && exact(v) !== null) return plain(d, exact(v));
  return String(v);
}
function fieldName(d, f) {
  const t = d.t();
  const key = `replay.field.${f}`;
  const s = t(key);
  return s === key ? f : s;
}
function termed(d, field, v) {
  const t = d.t();
  if (typeof v !== "string") return value(d, v);
  const table = {status: "status", stage: "stage", category: "category"}[field];
  return table ? t.term(table, v) : v;
}

// -- the page -----------------------------------------------------------------------------------
export async function showReplay(arg, d) {
  const t = d.t();
  const seq = ++current;
  const [kind, id, at] = arg.split("/");
  const {esc, view} = d;
  if (!KINDS[kind] || !id) {
    view.innerHTML = `<p class="error" role="alert">${esc(t("replay.bad", {path: arg}))}</p>`;
    return;
  }
  const s = session(d);
  view.innerHTML = `<div id="replay"><h1>${esc(t(`replay.title.${kind}`, {id}))}</h1>
    <p class="hint">${esc(t("replay.caption"))} <a href="#${kind}/${esc(encodeURIComponent(id))}">${esc(t("replay.live"))}</a></p>
    <form id="replayform" class="replayform">
      <label for="caseref">${esc(t("replay.caseref"))}</label>
      <input id="caseref" required maxlength="200" autocomplete="off" value="${esc(s.ref)}" placeholder="${esc(t("replay.caseref.placeholder"))}" aria-describedby="caserefhint">
      <label for="replaypurpose">${esc(t("purpose.label"))}</label>
      <select id="replaypurpose">${d.state.purposes.map((p) => `<option value="${esc(p.code)}"${p.code === s.purpose ? " selected" : ""}>${esc((p.labels && p.labels[d.state.lang]) || p.label)}</option>`).join("")}</select>
      <button type="submit">${esc(t("replay.start"))}</button>
      <span id="caserefhint" class="hint">${esc(t("replay.caseref.hint"))}</span>
    </form>
    <div id="replaybody"></div></div>`;
  d.status(t("replay.status", {id}));
  document.getElementById("replayform").onsubmit = (e) => {
    e.preventDefault();
    const ref = document.getElementById("caseref").value.trim();
    if (!ref) return;
    sessionStorage.setItem(KEY.ref, ref);
    sessionStorage.setItem(KEY.purpose, document.getElementById("replaypurpose").value);
    showReplay(arg, d);
  };
  if (!s.ref) {
    document.getElementById("caseref").focus();
    return;
  }
  try {
    await load(d, seq, kind, id, at);
  } catch (e) {
    const body = document.getElementById("replaybody");
    if (seq !== current || !body) return;
    body.innerHTML = `<p class="error" role="alert">${esc(t("error", {error: e.message}))}</p>`;
    d.status(e.message, true);
  }
}

async function load(d, seq, kind, id, at) {
  const t = d.t();
  const {esc} = d;
  const body = document.getElementById("replaybody");
  body.innerHTML = `<p class="hint">${esc(t("replay.loading"))}</p>`;
  const live = () => seq === current && body.isConnected;  // not left for another page
  const range = await call(d, "/v1/replay/range");
  if (!live()) return;
  if (range.status === 403) {
    sessionStorage.setItem(KEY.denied, tokenMark(d));
    body.innerHTML = `<p class="error" role="alert" id="replaydenied">${esc(t("replay.denied"))}</p><p class="hint">${esc(range.message)}</p>`;
    d.status(range.message, true);
    return;
  }
  if (!range.ok) throw new Error(range.message);
  sessionStorage.removeItem(KEY.denied);
  const first = ms(range.body.first);
  const now = ms(range.body.now);
  if (first === null) {
    body.innerHTML = `<p>${esc(t("replay.nothing"))}</p>`;
    return;
  }
  const chrono = await call(d, `/v1/replay/chronology?${kind}=${encodeURIComponent(id)}`);
  if (!live()) return;
  // Stops: when the hub took in each item of the chronology (or, without one, each change of
  // the whole span), and the bounds.
  let known = [];
  if (chrono.ok) known = (chrono.body.items || []).map((i) => ms(i.known_at));
  else {
    const span = await call(d, `/v1/replay/${KINDS[kind]}/${encodeURIComponent(id)}/diff?from=${encodeURIComponent(isoOf(first))}`);
    if (!live()) return;
    if (span.ok) known = span.body.items.map((i) => ms(i.known_at));
  }
  const stops = [...new Set([first, now, ...known.filter((n) => n !== null && n >= first && n <= now)])].sort((a, b) => a - b);
  let instant = exact(at);
  if (instant === null || instant < first || instant > now) instant = now;

  body.innerHTML = `<div class="slider">
      <label for="instant">${esc(t("replay.instant"))}</label>
      <input id="instant" type="range" min="${first}" max="${now}" step="1" value="${instant}" list="replaystops" aria-describedby="instanthint">
      <datalist id="replaystops">${stops.map((n) => `<option value="${n}"></option>`).join("")}</datalist>
      <output id="instantlabel" for="instant"></output>
      <div class="stops">
        <button type="button" id="prevstop">${esc(t("replay.prev"))}</button>
        <button type="button" id="nextstop">${esc(t("replay.next"))}</button>
        <button type="button" id="nowstop">${esc(t("replay.now"))}</button>
      </div>
      <p id="instanthint" class="hint">${esc(t("replay.keys", {n: stops.length}))}</p>
    </div>
    <div class="replaycols" aria-live="off">
      <div>
        <section id="dossier" aria-labelledby="dossiertitle"><h2 id="dossiertitle"></h2><div id="dossierbody"></div></section>
        <section id="changes" aria-labelledby="changestitle"><h2 id="changestitle">${esc(t("replay.changes"))}</h2><div id="changesbody"></div></section>
      </div>
      <section id="chronology" aria-labelledby="chronotitle"><h2 id="chronotitle">${esc(t("replay.chronology"))}</h2><div id="chronobody"></div></section>
    </div>`;
  const slider = document.getElementById("instant");
  const chronoBox = document.getElementById("chronology");
  if (chrono.ok) {
    chronoBox.dataset.state = "ready";
    document.getElementById("chronobody").innerHTML = chronologyHtml(d, chrono.body);
  } else {
    chronoBox.dataset.state = chrono.status === 404 ? "unavailable" : "error";
    document.getElementById("chronobody").innerHTML = `<p class="replaynote" id="chronounavailable">${esc(t(chrono.status === 404 ? "replay.chronology.none" : "replay.chronology.error"))}</p>${chrono.status === 404 ? "" : `<p class="hint">${esc(chrono.message)}</p>`}`;
  }

  const label = (n) => {
    const text = n >= now ? t("replay.at.now", {at: plain(d, n)}) : plain(d, n);
    slider.setAttribute("aria-valuetext", text);
    document.getElementById("instantlabel").textContent = text;
  };
  let shown = null;
  const go = (n) => {
    n = Math.min(now, Math.max(first, n));
    slider.value = String(n);
    label(n);
    if (n === shown) return;
    shown = n;
    history.replaceState(null, "", `#replay/${kind}/${encodeURIComponent(id)}/${isoOf(n)}`);
    instantAt(d, seq, kind, id, n, now).catch((e) => {
      if (seq === current) d.status(e.message, true);
    });
  };
  const before = (n) => [...stops].reverse().find((x) => x < n) ?? first;
  const after = (n) => stops.find((x) => x > n) ?? now;
  slider.addEventListener("input", () => label(Number(slider.value)));
  slider.addEventListener("change", () => go(Number(slider.value)));
  slider.addEventListener("keydown", (e) => {
    const n = Number(slider.value);
    const page = Math.max(1, Math.round((now - first) / 20));
    const to = {ArrowLeft: before(n), ArrowDown: before(n), ArrowRight: after(n), ArrowUp: after(n),
      Home: first, End: now, PageDown: n - page, PageUp: n + page}[e.key];
    if (to === undefined) return;
    e.preventDefault();
    go(to);
  });
  document.getElementById("prevstop").onclick = () => go(before(Number(slider.value)));
  document.getElementById("nextstop").onclick = () => go(after(Number(slider.value)));
  document.getElementById("nowstop").onclick = () => go(now);
  body.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-ms]");
    if (b) { go(Number(b.dataset.ms)); slider.focus(); }
  });
  go(instant);
}

// -- the dossier at the instant and what changed between it and now -----------------------------
async function instantAt(d, seq, kind, id, n, now) {
  const t = d.t();
  const {esc} = d;
  const iso = isoOf(n);
  const path = `/v1/replay/${KINDS[kind]}/${encodeURIComponent(id)}`;
  const dossier = document.getElementById("dossier");
  dossier.setAttribute("aria-busy", "true");
  const [read, diff] = await Promise.all([
    call(d, `${path}?known_at=${encodeURIComponent(iso)}`),
    n >= now ? Promise.resolve(null) : call(d, `${path}/diff?from=${encodeURIComponent(iso)}`),
  ]);
  if (seq !== current || Number(document.getElementById("instant")?.value) !== n) return;
  dossier.removeAttribute("aria-busy");
  dossier.dataset.at = iso;
  document.getElementById("dossiertitle").textContent = t("replay.dossier", {at: plain(d, n)});
  const box = document.getElementById("dossierbody");
  if (read.ok) {
    const html = kind === "person" ? d.personHtml(read.body) : d.caseHtml(read.body, null);
    // the view's own headings, one level down under the replay's
    box.innerHTML = html.replace(/<(\/?)h([1-5])\b/g, (_, slash, lvl) => `<${slash}h${Number(lvl) + 2}`);
    dossier.dataset.state = "known";
  } else if (read.status === 404) {
    box.innerHTML = `<p class="replaynote">${esc(t("replay.unknown.subject"))}</p>`;
    dossier.dataset.state = "unknown";
  } else {
    box.innerHTML = `<p class="error" role="alert">${esc(t("error", {error: read.message}))}</p>`;
    dossier.dataset.state = "error";
  }
  const changes = document.getElementById("changesbody");
  if (diff === null) changes.innerHTML = `<p>${esc(t("replay.changes.now"))}</p>`;
  else if (diff.ok && !diff.body.items.length) changes.innerHTML = `<p>${esc(t("replay.changes.none"))}</p>`;
  else if (diff.ok) changes.innerHTML = diffHtml(d, diff.body.items);
  else if (diff.status === 404) changes.innerHTML = `<p>${esc(t("replay.changes.none"))}</p>`;
  else changes.innerHTML = `<p class="error">${esc(t("error", {error: diff.message}))}</p>`;
  markChronology(d, n);
  d.status(t("replay.status.at", {id, at: plain(d, n)}));
}

function diffHtml(d, items) {
  const t = d.t();
  const {esc} = d;
  const by = (i) => [
    i.agency ? d.agency(i.agency) : "",
    i.event_id ? `<span class="event">${esc(i.event_id)}</span>` : "",
    i.known_at ? `<button type="button" class="link" data-ms="${ms(i.known_at)}" aria-label="${esc(t("replay.goto", {at: plain(d, ms(i.known_at))}))}">${esc(plain(d, ms(i.known_at)))}</button>` : "",
  ].filter(Boolean).join("<br>");
  return `<table class="changes"><thead><tr><th scope="col">${esc(t("col.field"))}</th><th scope="col">${esc(t("replay.before"))}</th><th scope="col">${esc(t("replay.after"))}</th><th scope="col">${esc(t("replay.by"))}</th></tr></thead><tbody>
    ${items.map((i) => `<tr data-field="${esc(i.field)}"><th scope="row">${esc(fieldName(d, i.field))}</th><td>${esc(termed(d, i.field, i.before))}</td><td>${esc(termed(d, i.field, i.after))}</td><td>${by(i)}</td></tr>`).join("")}</tbody></table>`;
}

// A read's purpose as stated ("code; free text"): the code in the page's words, the text as typed.
function purposeLabel(d, stated) {
  const [code, ...text] = String(stated).split("; ");
  const p = d.state.purposes.find((x) => x.code === code);
  const label = p ? (p.labels && p.labels[d.state.lang]) || p.label : code;
  return [label, ...text].join(d.t()("sep"));
}

// -- the chronology beside: every item, those the hub knew by the instant, the latest marked ---
function chronologyHtml(d, body) {
  const t = d.t();
  const {esc} = d;
  const items = body.items || [];
  const limits = (body.limits || []).map((l) => `<li>${esc(l)}</li>`).join("");
  return `<p class="hint" id="chronocount"></p>
    <ol class="chrono">${items.map((i) => {
      const k = ms(i.known_at);
      const happened = i.happened_at ? plain(d, exact(i.happened_at), {date: i.precision === "day"}) : "";
      const what = i.kind === "read" ? `${esc(i.user || "")}${i.purpose ? esc(t("paren", {x: purposeLabel(d, i.purpose)})) : ""}` : esc(t.term("type", i.type));
      return `<li class="${esc(i.kind)}" data-ms="${k ?? ""}"${i.event_id ? ` data-event="${esc(i.event_id)}"` : ""}>
        <span class="when">${esc(happened)}</span> ${i.agency ? d.agency(i.agency) : ""} <b>${esc(t(`replay.kind.${i.kind}`))}</b>
        <span class="what">${what}</span>
        <span class="summary">${esc(i.summary)}${i.event_id ? ` · ${esc(i.event_id)}` : ""}</span>
        ${k === null ? `<span class="hint">${esc(t("replay.known_at.none"))}</span>` : `<button type="button" class="link" data-ms="${k}" aria-label="${esc(t("replay.goto", {at: plain(d, k)}))}">${esc(t("replay.known", {at: plain(d, k)}))}</button>`}
        <span class="mark"></span></li>`;
    }).join("")}</ol>
    ${items.length ? "" : `<p>${esc(t("replay.chronology.empty"))}</p>`}
    ${limits ? `<details><summary>${esc(t("replay.limits"))}</summary><ul>${limits}</ul></details>` : ""}`;
}

function markChronology(d, n) {
  const t = d.t();
  const box = document.getElementById("chronology");
  if (!box || box.dataset.state !== "ready") return;
  const rows = [...box.querySelectorAll("ol.chrono > li")];
  const knownAt = (li) => (li.dataset.ms === "" ? null : Number(li.dataset.ms));
  const latest = Math.max(-Infinity, ...rows.map(knownAt).filter((k) => k !== null && k <= n));
  let count = 0;
  for (const li of rows) {
    const k = knownAt(li);
    const isKnown = k !== null && k <= n;
    count += isKnown ? 1 : 0;
    li.classList.toggle("later", !isKnown);
    if (isKnown && k === latest) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    li.querySelector(".mark").textContent = !isKnown ? t("replay.later") : k === latest ? t("replay.latest") : "";
  }
  document.getElementById("chronocount").textContent = t("replay.chronology.count", {n: count, all: rows.length});
}
