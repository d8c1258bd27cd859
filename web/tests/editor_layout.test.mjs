// Label placement, canvas backing size, depth in words and the frame count read from the graph.
import { test } from "node:test";
import assert from "node:assert/strict";
import { placeLabels, boxesOverlap, wrapText } from "../js/lib/labels.js";
import { backingSize, measuredZoom, MAX_BACKING_PIXELS } from "../js/lib/canvas_scale.js";
import { relativeDepth } from "../js/lib/depth.js";
import { numFramesFromGraph } from "../js/lib/graph_frames.js";

const BOUNDS = { x: 0, y: 0, w: 300, h: 200 };
const req = (id, x, y, w = 40, priority = 0) => ({ id, x, y, r: 5, h: 15, priority, texts: [{ text: `L${id}`, w }] });

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test("an isolated label sits right of and above its point", () => {
  const [b] = placeLabels([req(1, 100, 100)], BOUNDS);
  // Hand-placed: 2 px clear of the marker (r 5) to the right, bottom edge at the point's top-right.
  assert.deepEqual(b, { id: 1, text: "L1", x: 107, y: 100 - 7 - 15 + 5, w: 40, h: 15 });
});

test("a label at the right edge flips to the left instead of clipping", () => {
  const [b] = placeLabels([req(1, 295, 100)], BOUNDS);
  assert.equal(b.x + b.w, 295 - 7);
  assert.ok(b.x >= 0);
});

test("crowded points: placed labels never overlap each other, markers or the edges", () => {
  const rnd = lcg(7);
  for (let trial = 0; trial < 50; trial++) {
    const reqs = [];
    const markers = [];
    for (let i = 0; i < 12; i++) {
      const x = rnd() * 300;
      const y = rnd() * 200;
      reqs.push(req(i, x, y, 20 + rnd() * 60));
      markers.push({ x: x - 5, y: y - 5, w: 10, h: 10 });
    }
    const placed = placeLabels(reqs, BOUNDS, markers);
    for (let i = 0; i < placed.length; i++) {
      const a = placed[i];
      assert.ok(a.x >= 0 && a.y >= 0 && a.x + a.w <= 300 && a.y + a.h <= 200, JSON.stringify(a));
      for (const m of markers) assert.ok(!boxesOverlap(a, m), `label ${a.id} covers a marker`);
      for (const b of placed.slice(i + 1)) assert.ok(!boxesOverlap(a, b), `labels ${a.id} and ${b.id} overlap`);
    }
    assert.ok(placed.length >= 6, `only ${placed.length} of 12 labels placed`);
  }
});

test("two points on top of each other: the higher priority label wins the first spot", () => {
  const placed = placeLabels([req("low", 100, 100), req("high", 100, 100, 40, 2)], BOUNDS);
  const high = placed.find((b) => b.id === "high");
  assert.deepEqual([high.x, high.y], [107, 83]);
  assert.equal(placed.length, 2);
  assert.ok(!boxesOverlap(placed[0], placed[1]));
});

test("a label too wide for the canvas uses its short variant, or is left out", () => {
  const long = { id: 1, x: 50, y: 100, r: 5, h: 15, texts: [{ text: "very long", w: 400 }, { text: "s", w: 12 }] };
  assert.equal(placeLabels([long], BOUNDS)[0].text, "s");
  assert.deepEqual(placeLabels([{ ...long, texts: [{ text: "x", w: 400 }] }], BOUNDS), []);
});

test("wrapText keeps lines under the width", () => {
  const measure = (s) => s.length * 6;
  const lines = wrapText("Run once or click Image… to load the start image", 100, measure);
  assert.deepEqual(lines, ["Run once or", "click Image… to", "load the start", "image"]);
  for (const l of lines) assert.ok(measure(l) <= 100 || !l.includes(" "));
});

test("backing store = layout size × zoom × device pixel ratio", () => {
  assert.deepEqual(backingSize(400, 300, 1, 1), { width: 400, height: 300, factor: 1 });
  assert.deepEqual(backingSize(400, 300, 0.5, 1), { width: 200, height: 150, factor: 0.5 });
  assert.deepEqual(backingSize(400, 300, 2, 2), { width: 1600, height: 1200, factor: 4 });
  assert.deepEqual(backingSize(401, 301, 1.5, 1), { width: 602, height: 452, factor: 1.5 });
  const big = backingSize(2000, 2000, 4, 2);
  assert.ok(big.width * big.height <= MAX_BACKING_PIXELS * 1.001 && big.width === big.height);
  assert.equal(measuredZoom(848, 424), 2);
  assert.equal(measuredZoom(100, 0), 1);
});

test("depth in words relative to the start depth", () => {
  assert.deepEqual(relativeDepth(0.006, 0.01), { ratio: 0.6, text: "×0.6 nearer" });
  assert.equal(relativeDepth(0.015, 0.01).text, "×1.5 farther");
  assert.equal(relativeDepth(0.01, 0.01).text, "same depth");
  assert.equal(relativeDepth(0.0101, 0.01).text, "×1.01 farther"); // two digits would read "×1"
  assert.equal(relativeDepth(0.12, 0.01).text, "×12 farther");
  assert.equal(relativeDepth(0.004808 / 1.05 ** 4, 0.004808).text, "×0.82 nearer");
  assert.equal(relativeDepth(0, 0.01).text, "–");
});

test("frame count: the node's own num_frames, else the render node's it feeds", () => {
  const render = { id: 2, widgets: [{ name: "num_frames", value: 24 }] };
  const other = { id: 3, widgets: [{ name: "seed", value: 1 }] };
  const nodes = { 2: render, 3: other };
  const graph = { links: new Map([[10, { target_id: 3 }], [11, { target_id: 2 }]]), getNodeById: (id) => nodes[id] };
  const editor = { widgets: [], outputs: [{ links: [10] }, { links: [11] }] };
  assert.equal(numFramesFromGraph(editor, graph), 24);
  assert.equal(numFramesFromGraph({ ...editor, widgets: [{ name: "num_frames", value: 8 }] }, graph), 8);
  const asObject = { links: { 10: { target_id: 3 }, 11: { target_id: 2 } }, getNodeById: graph.getNodeById };
  assert.equal(numFramesFromGraph(editor, asObject), 24);
  assert.equal(numFramesFromGraph({ widgets: [], outputs: [{ links: [10] }] }, graph), null);
  assert.equal(numFramesFromGraph(editor, null), null);
});
