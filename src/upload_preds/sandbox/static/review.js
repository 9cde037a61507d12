// The review page: plain JS, no build step, no dependencies.
//
// State (dataset, the two label sets, sort, query, page, page size) lives in
// the URL's query string, so a view can be reloaded or shared; the API key
// lives in sessionStorage only (taken from a "#key=..." fragment, at load or
// when one is added to an open tab's address, which is then removed from the
// address bar, or typed into the key form).
// Every list request asks the server for one page: the server filters
// (search), sorts and pages, so thousands of samples never reach the browser
// at once. Everything from the data is put in the page with textContent and
// SVG attributes, never as HTML. Sequences (frames, sensors, the slider and the
// Left/Right keys) are in review_frames.js, the bird's-eye view of point clouds in
// review_bev.js; both are loaded before this file.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KEY_STORE = "upload-preds-sandbox-key";
const FALLBACK = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

const $ = (id) => document.getElementById(id);
const state = { datasets: [], ds: null, colors: new Map(), names: new Map(), page: 1, pages: 1,
  shown: null };

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    // Styles through the CSSOM: the page's CSP forbids inline style attributes.
    else if (k === "style") Object.assign(node.style, v);
    else if (k === "class") node.setAttribute("class", v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// -- the key ------------------------------------------------------------------

// Returns whether a key was taken (the caller then (re)starts the page).
function takeKeyFromFragment() {
  const m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
  if (!m) return false;
  let key = m[1];
  try { key = decodeURIComponent(key); } catch (e) { /* a stray %: take it as written */ }
  // The key leaves the address bar (and the history entry) before anything else.
  history.replaceState(null, "", location.pathname + location.search);
  if (!key) return false;
  sessionStorage.setItem(KEY_STORE, key);
  return true;
}

function askForKey(message) {
  $("key-panel").hidden = false;
  document.querySelector("main").hidden = true;
  const err = $("key-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("key-input").focus();
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) {
    askForKey("");
    throw new ApiError(401, { detail: "no key" });
  }
  const headers = { Authorization: `APIKey ${key}`, ...(options.headers || {}) };
  const resp = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (resp.status === 401) {
    sessionStorage.removeItem(KEY_STORE);
    askForKey("That key was not accepted by this sandbox.");
  }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// -- controls and URL state ------------------------------------------------------

function params() { return new URLSearchParams(location.search); }

function setParams(changes, { push = true } = {}) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") p.delete(k); else p.set(k, String(v));
  }
  const url = `${location.pathname}?${p.toString()}`;
  if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
}

function fillSelect(select, options, value) {
  select.replaceChildren(...options.map(([v, label]) => el("option", { value: v, text: label })));
  if (options.some(([v]) => v === value)) select.value = value;
}

function colorOf(cid) {
  const c = state.colors.get(cid);
  return c || FALLBACK[Math.abs(cid) % FALLBACK.length];
}
const rgb = (c, a = 1) => `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${a})`;

// A name as the search syntax writes it (search.py's render_name): bare, or quoted.
function queryName(name) {
  if (/^[^\s.:"\\<>=,[\]]+$/.test(name) && name !== "total_count") return name;
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

// The search box's example, made of this dataset's own label sets and categories.
function placeholderFor(ds, A, B) {
  const cat = ds.categories.length ? queryName(ds.categories[0].name) : "total_count";
  const a = queryName(A);
  if (!B || B === A) return `${a}.${cat}:>0 ${a}.total_count:<=10`;
  return `${a}.${cat}:>0 ${queryName(B)}.${cat}:=0`;
}

function chooseDataset(fullName) {
  const ds = state.datasets.find((d) => d.full_name === fullName) || state.datasets[0];
  state.ds = ds;
  state.colors = new Map();
  state.names = new Map();
  for (const c of ds.categories) {
    state.names.set(c.id, c.name);
    if (Array.isArray(c.color) && c.color.length >= 3) state.colors.set(c.id, c.color);
  }
  $("legend").replaceChildren(...ds.categories.map((c) => el("span", { class: "chip" },
    el("span", { class: "swatch", style: { background: rgb(colorOf(c.id)) } }), c.name)));
  return ds;
}

function syncControls() {
  const p = params();
  fillSelect($("dataset"), state.datasets.map((d) => [d.full_name, d.full_name]), p.get("dataset"));
  const ds = chooseDataset($("dataset").value);
  const sets = ds.labelsets.map((n) => [n, n]);
  const a = p.get("a") || ds.labelsets[0];
  // Left and Right show different label sets whenever the dataset has two.
  let b = p.get("b") || a;
  if (b === a) b = ds.labelsets.find((n) => n !== a) || a;
  fillSelect($("ls-a"), sets, a);
  fillSelect($("ls-b"), sets, b);
  const A = $("ls-a").value, B = $("ls-b").value;
  state.shown = [A, B];
  $("query").placeholder = placeholderFor(ds, A, B);
  const sorts = [
    [`-score:${B}`, `Score of ${B}, high → low`], [`score:${B}`, `Score of ${B}, low → high`],
    [`-score:${A}`, `Score of ${A}, high → low`], [`score:${A}`, `Score of ${A}, low → high`],
    ["name", "Name, A → Z"], ["-name", "Name, Z → A"],
    [`status:${A}`, `Status of ${A}`], [`-status:${A}`, `Status of ${A}, reversed`],
    [`status:${B}`, `Status of ${B}`], [`-status:${B}`, `Status of ${B}, reversed`],
  ];
  const uniq = sorts.filter(([v], i) => sorts.findIndex(([w]) => w === v) === i);
  fillSelect($("sort"), uniq, p.get("sort") || `-score:${B}`);
  fillSelect($("per-page"), ["12", "24", "48", "96"].map((n) => [n, n]), p.get("per_page") || "24");
  $("query").value = p.get("q") || "";
  state.page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
}

// -- drawing ------------------------------------------------------------------

function pointsAttr(points) { return points.map((p) => `${p[0]},${p[1]}`).join(" "); }

function describe(a) {
  const parts = [state.names.get(a.category_id) || `category ${a.category_id}`];
  const attrs = a.attributes || {};
  for (const [k, v] of Object.entries(attrs)) parts.push(`${k}: ${v}`);
  return parts.join(" · ");
}

function shape(a, labelset) {
  const color = colorOf(a.category_id);
  const common = {
    class: `ann ${a.type}`, stroke: rgb(color), "data-type": a.type,
    "data-category": state.names.get(a.category_id) || String(a.category_id),
    "data-labelset": labelset, "data-id": a.id,
  };
  const pts = a.points || [];
  let node = null;
  if (a.type === "bbox" && pts.length === 2) {
    const [[x0, y0], [x1, y1]] = pts;
    node = el("svg:rect", { ...common, x: Math.min(x0, x1), y: Math.min(y0, y1),
      width: Math.abs(x1 - x0), height: Math.abs(y1 - y0), fill: rgb(color, 0.12) });
  } else if (a.type === "polygon") {
    node = el("svg:polygon", { ...common, points: pointsAttr(pts), fill: rgb(color, 0.22) });
  } else if (a.type === "polyline") {
    node = el("svg:polyline", { ...common, points: pointsAttr(pts) });
  } else if (a.type === "point" && pts.length) {
    node = el("svg:circle", { ...common, cx: pts[0][0], cy: pts[0][1], r: 6,
      fill: rgb(color, 0.85), stroke: "#fff" });
  }
  if (node) node.append(el("svg:title", { text: describe(a) }));
  return node;
}

function extent(annotations) {
  let w = 0, h = 0;
  for (const a of annotations) for (const p of a.points || []) {
    w = Math.max(w, p[0]); h = Math.max(h, p[1]);
  }
  return [Math.max(640, Math.ceil(w)), Math.max(480, Math.ceil(h))];
}

// Segmentation bitmaps: each pixel's RGB is an instance id (R + 256 G + 65536 B);
// repaint it in its category's colour on a canvas over the image.
function drawMask(canvas, url, annotations) {
  const byId = new Map(annotations.map((a) => [a.id, colorOf(a.category_id)]));
  const img = new Image();
  img.onload = () => {
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    try {
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const px = data.data;
      for (let i = 0; i < px.length; i += 4) {
        const id = px[i] + 256 * px[i + 1] + 65536 * px[i + 2];
        const c = id ? byId.get(id) : null;
        if (c) { px[i] = c[0]; px[i + 1] = c[1]; px[i + 2] = c[2]; px[i + 3] = 255; }
        else px[i + 3] = 0;
      }
      ctx.putImageData(data, 0, 0);
    } catch (e) {
      // An image from another origin cannot be read back; show it as it is.
    }
    canvas.dataset.mask = "drawn";
  };
  img.src = url;
}

// Objects per category: the server's counts of the label (search's), or for one sensor
// of a multi-sensor label that sensor's own tracks (sensorCounts, review_frames.js).
function countsText(label, view) {
  const own = label && view && view.sensor !== null ? sensorCounts(label, view) : null;
  const counts = own ? Object.entries(own) : (label ? Object.entries(label.counts || {}) : []);
  return counts.length
    ? counts.map(([cid, n]) => `${state.names.get(Number(cid)) || cid} ${n}`).join(" · ")
    : (label ? "no objects" : "no label");
}

function panel(sample, labelset, view) {
  const label = sample.labels[labelset];
  const status = label ? label.label_status : "UNLABELED";
  const score = label && label.score !== null && label.score !== undefined
    ? `score ${Number(label.score).toFixed(3)}` : "";
  return el("div", { class: "panel", "data-labelset-panel": labelset, "data-status": status,
    "data-sensor": view.sensor },
    el("div", { class: "panel-head" },
      el("span", { class: "ls", text: labelset, title: labelset }),
      el("span", { class: `badge ${status}`, text: status }),
      el("span", { class: "score", text: score })),
    el("figure", {}),
    el("div", { class: "counts", text: countsText(label, view) }));
}

function card(sample, A, B) {
  const msg = el("span", { class: "msg", role: "status" });
  const foot = el("div", { class: "card-foot" });
  const rows = [];
  for (const view of views(sample)) {
    if (view.sensor !== null) rows.push(el("div", { class: "sensor", text: `${view.sensor} · ${view.task_type}` }));
    rows.push(el("div", { class: "panels", "data-sensor": view.sensor },
      panel(sample, A, view), panel(sample, B, view)));
  }
  const n = frameCount(sample);
  const node = el("article", { class: "card", "data-sample-name": sample.name,
    "data-sample-uuid": sample.uuid, "data-frames": n },
    el("div", { class: "card-head" }, el("h3", { text: sample.name }),
      el("span", { class: "uuid", text: sample.uuid })),
    ...rows, foot);
  if (SEQUENCE(state.ds.task_type)) {
    const slider = el("input", { type: "range", class: "frame-slider", min: 0, max: n - 1,
      value: 0, step: 1, "aria-label": `frame of ${sample.name}` });
    slider.addEventListener("input", () => { setActive(node); drawFrame(node, sample, A, B, Number(slider.value)); });
    node.step = (d) => {
      const f = Math.min(n - 1, Math.max(0, Number(slider.value) + d));
      if (f === Number(slider.value)) return;
      slider.value = String(f);
      drawFrame(node, sample, A, B, f);
    };
    node.addEventListener("pointerdown", () => setActive(node));
    node.querySelector(".card-head").after(el("div", { class: "frames" }, slider,
      el("span", { class: "frame-label" })));
  }
  drawFrame(node, sample, A, B, 0);
  if (A !== B) {
    for (const [from, to] of [[B, A], [A, B]]) {
      if (!sample.labels[from]) continue;
      foot.append(el("button", { type: "button", class: "copy", "data-from": from, "data-to": to,
        text: `Copy ${from} → ${to}`, title: `Copy this label into ${to} as PRELABELED`,
        onclick: (ev) => copyLabel(sample, from, to, false, msg, ev.currentTarget) }));
    }
  }
  foot.append(msg);
  return node;
}

async function copyLabel(sample, from, to, overwrite, msg, button) {
  const ds = state.ds.full_name;
  msg.className = "msg";
  msg.textContent = "copying…";
  for (const b of msg.parentElement.querySelectorAll("button")) b.disabled = true;
  try {
    const out = await api(`/_review/api/datasets/${ds}/copy`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sample: sample.uuid, from, to, overwrite }),
    });
    await load({ keepScroll: true });
    const again = document.querySelector(`article[data-sample-uuid="${sample.uuid}"] .msg`);
    if (again) {
      again.className = "msg ok";
      again.textContent = `Copied ${from} → ${to} as ${out.label_status}` +
        (out.replaced_status !== "UNLABELED" ? ` (replaced a ${out.replaced_status} label)` : "");
    }
  } catch (e) {
    for (const b of msg.parentElement.querySelectorAll("button")) b.disabled = false;
    msg.className = "msg bad";
    msg.textContent = e.message;
    if (e.status === 409) {
      msg.append(" ", el("button", { type: "button", class: "overwrite", "data-from": from,
        "data-to": to, text: `Overwrite the ${e.body.target_status} label`,
        onclick: () => copyLabel(sample, from, to, true, msg, button) }));
    }
  }
}

// -- loading a page ------------------------------------------------------------

function showQueryError(err) {
  const box = $("query-error");
  const input = $("query");
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    input.removeAttribute("aria-invalid");
    return;
  }
  box.hidden = false;
  box.textContent = err.pointer || err.message;
  input.setAttribute("aria-invalid", "true");
  input.focus();
  input.setSelectionRange(err.start, Math.min(err.end, input.value.length));
}

function renderPager(total) {
  const p = state.page, n = state.pages;
  for (const info of document.querySelectorAll(".page-info")) {
    info.textContent = `Page ${p} of ${n} · ${total} sample${total === 1 ? "" : "s"}`;
  }
  for (const b of document.querySelectorAll(".pager .prev")) b.disabled = p <= 1;
  for (const b of document.querySelectorAll(".pager .next")) b.disabled = p >= n;
}

function clearPager() {
  for (const info of document.querySelectorAll(".page-info")) info.textContent = "";
  for (const b of document.querySelectorAll(".pager button")) b.disabled = true;
}

let generation = 0;

async function load({ keepScroll = false } = {}) {
  const mine = ++generation;
  const ds = state.ds;
  const A = $("ls-a").value, B = $("ls-b").value;
  const q = new URLSearchParams({ a: A, b: B, sort: $("sort").value, q: $("query").value,
    page: String(state.page), per_page: $("per-page").value });
  const list = $("samples");
  list.setAttribute("aria-busy", "true");
  $("status").textContent = "loading…";
  try {
    const data = await api(`/_review/api/datasets/${ds.full_name}/samples?${q}`);
    if (mine !== generation) return;
    showQueryError(null);
    state.pages = data.pages;
    if (state.page > data.pages) { state.page = data.pages; setParams({ page: state.page }, { push: false }); return load(); }
    const y = window.scrollY;
    list.replaceChildren(...(data.samples.length
      ? data.samples.map((s) => card(s, A, B))
      : [el("p", { class: "empty", text: "No sample matches." })]));
    renderPager(data.total);
    list.dataset.total = String(data.total);
    list.dataset.page = String(data.page);
    $("status").textContent = "";
    if (keepScroll) window.scrollTo(0, y); else window.scrollTo(0, 0);
  } catch (e) {
    if (mine !== generation) return;
    $("status").textContent = "";
    // Nothing below the error may look like its answer: clear the old results.
    list.replaceChildren();
    delete list.dataset.total;
    delete list.dataset.page;
    clearPager();
    if (e.body && e.body.query_error) showQueryError(e.body.query_error);
    else if (e.status !== 401) $("status").textContent = e.message;
  } finally {
    if (mine === generation) list.setAttribute("aria-busy", "false");
  }
}

function readControls() {
  setParams({ dataset: $("dataset").value, a: $("ls-a").value, b: $("ls-b").value,
    sort: $("sort").value, per_page: $("per-page").value, q: $("query").value, page: state.page });
}

async function start() {
  $("key-panel").hidden = true;
  document.querySelector("main").hidden = false;
  try {
    state.datasets = await api("/_review/api/datasets");
  } catch (e) {
    if (e.status !== 401) $("status").textContent = e.message;
    return;
  }
  if (!state.datasets.length) { $("status").textContent = "This sandbox has no datasets."; return; }
  syncControls();
  await load();
}

function wire() {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    $("key-input").value = "";
    start();
  });
  $("dataset").addEventListener("change", () => {
    setParams({ dataset: $("dataset").value, a: null, b: null, sort: null, q: null, page: 1 });
    syncControls(); load();
  });
  // Picking for one side the set the other side shows swaps the two sides.
  for (const [id, other, side] of [["ls-a", "ls-b", 0], ["ls-b", "ls-a", 1]]) {
    $(id).addEventListener("change", () => {
      const [oldA, oldB] = state.shown || [null, null];
      const previous = side === 0 ? oldA : oldB;
      if ($(id).value === $(other).value && previous) $(other).value = previous;
      state.page = 1; readControls(); syncControls(); load();
    });
  }
  for (const id of ["sort", "per-page"]) {
    $(id).addEventListener("change", () => {
      state.page = 1; readControls(); syncControls(); load();
    });
  }
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault(); state.page = 1; readControls(); load();
  });
  $("clear-search").addEventListener("click", () => {
    $("query").value = ""; state.page = 1; readControls(); load();
  });
  for (const b of document.querySelectorAll(".pager .prev")) {
    b.addEventListener("click", () => { state.page -= 1; readControls(); load(); });
  }
  for (const b of document.querySelectorAll(".pager .next")) {
    b.addEventListener("click", () => { state.page += 1; readControls(); load(); });
  }
  // Before the key is known there is nothing to redraw (no datasets yet).
  window.addEventListener("popstate", () => { if (state.ds) { syncControls(); load(); } });
  // A "#key=..." added to an open tab's address: take it, clear it, start over.
  window.addEventListener("hashchange", () => { if (takeKeyFromFragment()) start(); });
  document.addEventListener("keydown", onArrow);
}

takeKeyFromFragment();
wire();
start();
