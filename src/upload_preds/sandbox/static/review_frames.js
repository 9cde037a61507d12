// The review page's sequences: views (one per sensor), frames, the slider's redraw and the
// Left/Right keys. Plain JS, loaded before review.js, whose helpers (el, state, colorOf,
// shape, drawMask, ...) it calls once the page runs.
//
// A card shows one row of two panels (the two label sets) per view: the sample itself,
// or each sensor of a multi-sensor sample. drawFrame(card, f) redraws frame f in every
// panel of the card at once, so the slider (and the keys) move both panels, and every
// sensor, together. Point-cloud task types are drawn top-down (review_bev.js), image
// task types as the image (of the frame) with its shapes and mask.
"use strict";

// -- what a card shows: views (one, or one per sensor), frames ----------------------

const POINTCLOUD = (tt) => tt.startsWith("pointcloud-");
const SEQUENCE = (tt) => tt.endsWith("-sequence");

// One view per sensor of a multi-sensor sample, else one view of the sample.
function views(sample) {
  const tt = state.ds.task_type;
  if (tt === "multisensor-sequence") {
    return (sample.sensors || []).map((s) => ({ sensor: s.name, task_type: s.task_type,
      frames: s.frames || [] }));
  }
  return [{ sensor: null, task_type: tt, frames: sample.frames }];
}

// A view's label attributes in one label (a sensor's, for multi-sensor labels).
function viewAttributes(label, view) {
  const attrs = label && label.attributes;
  if (!attrs) return null;
  if (view.sensor === null) return attrs;
  const s = (attrs.sensors || []).find((x) => x && x.name === view.sensor);
  return s && !Array.isArray(s.attributes) ? s.attributes : null;
}

// One sensor's objects per category id: distinct tracks over its frames, as search counts.
function sensorCounts(label, view) {
  const attrs = viewAttributes(label, view);
  const tracks = new Set();
  for (const frame of (attrs && attrs.frames) || []) {
    for (const a of (frame && frame.annotations) || []) tracks.add(`${a.category_id}/${a.track_id}`);
  }
  const out = {};
  for (const key of tracks) { const cid = key.split("/")[0]; out[cid] = (out[cid] || 0) + 1; }
  return out;
}

// The attributes of frame f (the whole label for single-frame task types).
function frameAttributes(attrs, view, f) {
  if (!attrs) return null;
  if (!SEQUENCE(view.task_type)) return attrs;
  return (attrs.frames || [])[f] || null;
}

function frameCount(sample) {
  let n = 1;
  for (const v of views(sample)) if (SEQUENCE(v.task_type)) n = Math.max(n, (v.frames || []).length);
  return n;
}

const drawStyle = {
  color: (cid) => colorOf(cid), rgb: (c, a) => rgb(c, a),
  name: (cid) => state.names.get(cid) || String(cid), describe: (a) => describe(a),
};

// A 2-D figure: the (frame's) image, its mask, its shapes.
function imageFigure(imageUrl, frame, name, labelset) {
  const anns = (frame && frame.annotations) || [];
  const [w, h] = extent(anns);
  const svg = el("svg:svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none",
    "aria-label": `${labelset} annotations` });
  for (const a of anns) { const s = shape(a, labelset); if (s) svg.append(s); }
  const fig = el("figure", { style: { aspectRatio: `${w} / ${h}` } });
  if (imageUrl) {
    const img = el("img", { src: imageUrl, alt: name, loading: "lazy" });
    img.addEventListener("load", () => {
      const W = img.naturalWidth, H = img.naturalHeight;
      if (W && H) { svg.setAttribute("viewBox", `0 0 ${W} ${H}`); fig.style.aspectRatio = `${W} / ${H}`; }
    });
    img.addEventListener("error", () => {
      img.remove();
      fig.prepend(el("div", { class: "noimage", text: "image not available" }));
    });
    fig.append(img);
  } else {
    fig.append(el("div", { class: "noimage", text: "no image" }));
  }
  const bitmap = frame && frame.segmentation_bitmap;
  if (bitmap && bitmap.url) {
    const canvas = el("canvas", { "data-labelset": labelset });
    fig.append(canvas);
    drawMask(canvas, bitmap.url, anns);
  }
  fig.append(svg);
  return fig;
}

// A bird's-eye figure: the cloud's points (when the sandbox can read them) and the shapes.
function bevFigure(frame, R, cloud, labelset) {
  const fig = el("figure", { class: "bev", "data-r": R });
  if (cloud) {
    fig.append(BEV.points(cloud, R, BEV.segmentationColors(frame, colorOf)));
    fig.dataset.points = "drawn";
  }
  const svg = BEV.shapes((frame && frame.annotations) || [], R, drawStyle);
  svg.setAttribute("aria-label", `${labelset} annotations, top-down`);
  fig.append(svg);
  return fig;
}

// Draw frame f of every view of a card into its panels (both label sets together).
function drawFrame(node, sample, A, B, f) {
  node.dataset.frame = String(f);
  const mine = (node.drawn = (node.drawn || 0) + 1);
  views(sample).forEach((view, vi) => {
    const row = node.querySelectorAll(".panels")[vi];
    const sides = [A, B].map((ls, i) => [ls, row.children[i]]);
    const frames = sides.map(([ls]) => frameAttributes(viewAttributes(sample.labels[ls], view), view, f));
    const media = SEQUENCE(view.task_type) ? (view.frames || [])[f] || {} : sample;
    const put = (cloud) => {
      if (mine !== node.drawn) return;  // a newer frame was asked for meanwhile
      const R = POINTCLOUD(view.task_type)
        ? BEV.extent(frames.map((fr) => (fr && fr.annotations) || []), cloud) : 0;
      sides.forEach(([ls, p], i) => {
        p.dataset.frame = String(f);
        const fig = POINTCLOUD(view.task_type)
          ? bevFigure(frames[i], R, cloud, ls)
          : imageFigure(media.image_url, frames[i], sample.name, ls);
        p.querySelector("figure").replaceWith(fig);
      });
    };
    put(null);
    if (POINTCLOUD(view.task_type) && media.points_url) {
      BEV.loadPoints(media.points_url).then(put, (e) => { row.dataset.pointsError = e.message; });
    }
  });
  const label = node.querySelector(".frame-label");
  if (label) label.textContent = `frame ${f + 1} / ${frameCount(sample)}`;
}

// The card the arrow keys step: the last one whose slider or panels were used.
function setActive(node) {
  for (const c of document.querySelectorAll("article.card.active")) c.classList.remove("active");
  node.classList.add("active");
}

// Left/Right step the frames of the active sequence card (the first on the page until
// another is used). Not while typing or choosing (the search box, the selects and the
// slider keep their own arrow keys) and not with a modifier: Alt+Left is the browser's
// Back, which the page's history relies on.
function onArrow(ev) {
  if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const t = ev.target;
  if (t && t.closest && t.closest("input, select, textarea, [contenteditable]")) return;
  const node = document.querySelector("article.card.active") ||
    document.querySelector("article.card[data-frames]:has(.frame-slider)");
  if (!node || !node.step) return;
  ev.preventDefault();
  setActive(node);
  node.step(ev.key === "ArrowLeft" ? -1 : 1);
}

