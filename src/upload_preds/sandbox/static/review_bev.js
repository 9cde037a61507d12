// The review page's bird's-eye view of point-cloud labels: plain JS, no 3-D library.
//
// The world's x/y plane seen from above, x to the right and y up, in a square
// of half-size R metres around the sensor (the origin): R covers the frame's
// points and every shape of both panels of the card, so the two panels are
// drawn to the same scale and can be compared point by point.
//
// * Shapes are SVG in world coordinates (viewBox -R..R, a group flipped in y):
//   a cuboid is its footprint, the rectangle dimensions.x long (along its
//   heading) and dimensions.y wide, rotated by yaw about its position, plus a
//   heading mark from its centre to the middle of its front edge; 3-D
//   polygons, polylines and points are drawn by their x and y.
// * Points are pixels on a canvas beneath: the sandbox sends x/y of at most
//   200,000 points (/_review/points/..., every stride-th point of the file),
//   point k of the answer being point k * stride of the cloud, which is how a
//   segmentation label's point_annotations colour it (by the category of the
//   instance; 0 = unlabeled is grey).
"use strict";

const BEV = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SIZE = 512;
  const UNLABELED = [175, 175, 175];
  const clouds = new Map();

  // The compact answer: uint32 total, stride, count; then float32 x, y pairs.
  function loadPoints(url) {
    if (!clouds.has(url)) {
      clouds.set(url, fetch(url, { cache: "no-store" }).then((resp) => {
        if (!resp.ok) throw new Error(`points: HTTP ${resp.status}`);
        return resp.arrayBuffer();
      }).then((buf) => {
        const [total, stride, count] = new Uint32Array(buf, 0, 3);
        return { total, stride, count, xy: new Float32Array(buf, 12, count * 2) };
      }));
    }
    return clouds.get(url);
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  const isCuboid = (a) => a.type === "cuboid" || a.type === "cuboid-sync";

  // Footprint corners of a cuboid in world x/y, counter-clockwise from front-left.
  function corners(a) {
    const p = a.position || {}, d = a.dimensions || {};
    const c = Math.cos(a.yaw || 0), s = Math.sin(a.yaw || 0);
    const hl = (d.x || 0) / 2, hw = (d.y || 0) / 2;
    return [[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]].map(([u, v]) =>
      [p.x + u * c - v * s, p.y + u * s + v * c]);
  }

  function heading(a) {
    const p = a.position || {}, d = a.dimensions || {};
    const half = (d.x || 0) / 2;
    return [[p.x, p.y], [p.x + half * Math.cos(a.yaw || 0), p.y + half * Math.sin(a.yaw || 0)]];
  }

  // Half-size of the square shown: every shape and every point, rounded up to 5 m.
  function extent(annotationLists, cloud) {
    let r = 0;
    const see = (x, y) => { if (Number.isFinite(x) && Number.isFinite(y)) r = Math.max(r, Math.abs(x), Math.abs(y)); };
    for (const anns of annotationLists) for (const a of anns) {
      if (isCuboid(a)) for (const [x, y] of corners(a)) see(x, y);
      else for (const pt of a.points || []) see(pt[0], pt[1]);
    }
    if (cloud) for (let i = 0; i < cloud.xy.length; i += 2) see(cloud.xy[i], cloud.xy[i + 1]);
    return Math.max(10, Math.ceil((r * 1.05) / 5) * 5);
  }

  // The shapes of one frame, as SVG in world coordinates.
  function shapes(annotations, R, style) {
    const svg = svgEl("svg", { viewBox: `${-R} ${-R} ${2 * R} ${2 * R}`, class: "bev-shapes",
      preserveAspectRatio: "none", "data-r": R });
    const g = svgEl("g", { transform: "scale(1,-1)" });
    svg.append(g);
    for (const a of annotations) {
      const color = style.color(a.category_id);
      const common = { stroke: style.rgb(color), "data-id": a.id, "data-type": a.type,
        "data-category": style.name(a.category_id) };
      if (a.track_id !== undefined) common["data-track"] = a.track_id;
      const title = svgEl("title", {});
      title.textContent = style.describe(a);
      if (isCuboid(a)) {
        const box = svgEl("polygon", { ...common, class: "ann cuboid",
          points: corners(a).map((p) => p.join(",")).join(" "), fill: style.rgb(color, 0.18) });
        box.append(title);
        const [[x0, y0], [x1, y1]] = heading(a);
        g.append(box, svgEl("line", { class: "ann heading", stroke: style.rgb(color),
          "data-id": a.id, x1: x0, y1: y0, x2: x1, y2: y1 }));
      } else if ((a.points || []).length) {
        const pts = a.points.map((p) => `${p[0]},${p[1]}`).join(" ");
        let node;
        if (a.type === "polygon") node = svgEl("polygon", { ...common, class: "ann polygon", points: pts, fill: style.rgb(color, 0.2) });
        else if (a.type === "polyline") node = svgEl("polyline", { ...common, class: "ann polyline", points: pts, fill: "none" });
        else node = svgEl("circle", { ...common, class: "ann point", cx: a.points[0][0], cy: a.points[0][1], r: R / 80, fill: style.rgb(color) });
        node.append(title);
        g.append(node);
      }
    }
    return svg;
  }

  // The cloud's points on a canvas, coloured by colorAt(index in the file) or grey.
  function points(cloud, R, colorAt) {
    const canvas = document.createElement("canvas");
    canvas.className = "bev-points";
    canvas.width = SIZE;
    canvas.height = SIZE;
    canvas.dataset.r = String(R);
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(SIZE, SIZE);
    const px = img.data;
    const scale = SIZE / (2 * R);
    let drawn = 0;
    for (let k = 0; k < cloud.count; k++) {
      const x = cloud.xy[2 * k], y = cloud.xy[2 * k + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const i = Math.floor((x + R) * scale), j = Math.floor((R - y) * scale);
      if (i < 0 || j < 0 || i >= SIZE || j >= SIZE) continue;
      const c = colorAt(k * cloud.stride) || UNLABELED;
      // A 2 x 2 dot: one pixel of a 512-pixel panel is hard to see.
      for (const [di, dj] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const ii = i + di, jj = j + dj;
        if (ii >= SIZE || jj >= SIZE) continue;
        const o = 4 * (jj * SIZE + ii);
        px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = 255;
      }
      drawn++;
    }
    ctx.putImageData(img, 0, 0);
    canvas.dataset.points = String(drawn);
    return canvas;
  }

  // Colour of point `index` by a segmentation label's point_annotations.
  function segmentationColors(frameAttrs, color) {
    const pa = frameAttrs && Array.isArray(frameAttrs.point_annotations) ? frameAttrs.point_annotations : null;
    if (!pa) return () => null;
    const byId = new Map((frameAttrs.annotations || []).map((a) => [a.id, color(a.category_id)]));
    return (index) => { const id = pa[index]; return id ? byId.get(id) || null : null; };
  }

  return { loadPoints, extent, shapes, points, segmentationColors, corners, heading, SIZE };
})();
