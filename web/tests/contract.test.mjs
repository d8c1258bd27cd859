// The shared cases of tests/contract/cases.json against the editor's parsers, writer, model and
// resampler; tests/test_contract.py runs the same cases against the library. A case's `editor`
// entry replaces its expectation where the editor reads the text differently (and says why).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseTracks, fitTracks, parsePoints, pointsToJson } from "../js/lib/tracks_json.js";
import { TrackModel } from "../js/lib/track_model.js";
import { resampleTrack } from "../js/lib/pchip.js";
import { objectColor } from "../js/ui_common.js";
import { PALETTE } from "../js/lib/contract.js";

const CASES = JSON.parse(readFileSync(new URL("../../tests/contract/cases.json", import.meta.url), "utf8"));

function textOf(c) {
  const r = c.repeat;
  return r ? r.head + Array(r.count).fill(r.item).join(r.sep) + r.tail : c.text;
}

function forEditor(c) {
  if (!c.editor) return c;
  const { expect, error } = c.editor;
  assert.ok(c.editor.why, `${c.name}: an editor difference says why`);
  return expect !== undefined ? { ...c, expect, error: undefined } : { ...c, error, expect: undefined };
}

function close(a, b, path = "") {
  if (Array.isArray(a) || Array.isArray(b)) {
    assert.ok(Array.isArray(a) && Array.isArray(b) && a.length === b.length, `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    a.forEach((x, i) => close(x, b[i], `${path}[${i}]`));
  } else if (a && typeof a === "object") {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), path);
    for (const k of Object.keys(a)) close(a[k], b[k], `${path}.${k}`);
  } else if (typeof a === "number" && typeof b === "number") {
    assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${path}: ${a} vs ${b}`);
  } else {
    assert.equal(a, b, path);
  }
}

function normalTracks(tracks) {
  return tracks.map((t) => ({ ...(t.name ? { name: t.name } : {}), easing: t.easing || "linear", points: t.points }));
}

function checkError(fn, expected) {
  assert.throws(fn, (e) => {
    assert.equal(e.kind, expected.kind, e.message);
    for (const words of expected.mentions) assert.ok(e.message.includes(words), `"${words}" not in: ${e.message}`);
    return true;
  });
}

for (const raw of CASES.tracks) {
  const c = forEditor(raw);
  test(`tracks case: ${c.name}`, () => {
    const read = () => fitTracks(parseTracks(textOf(c)), c.scale_to || null);
    if (c.error) return checkError(read, c.error);
    close(normalTracks(read()), c.expect);
    // Through the editor: load, serialise, read back: depths, frames and easings survive.
    const m = new TrackModel();
    m.load(textOf(c), c.scale_to || null);
    const back = normalTracks(parseTracks(m.toJSON()).tracks);
    let last = c.expect.length - 1;
    while (last >= 0 && !c.expect[last].points.length) last--;
    close(back, c.expect.slice(0, last + 1));
  });
}

test("an edit of another point keeps a point object's depth and frame", () => {
  const m = new TrackModel();
  m.load('{"tracks": [{"points": [{"x": 1, "y": 2, "depth": 0.3, "frame": 4}, {"x": 5, "y": 6, "depth": 0.7}]}]}');
  m.movePoint(0, 1, 50, 60);
  m.setDepth(0, 1, 0.5);
  m.addPoint(9, 9, 0.25);
  const raw = JSON.parse(m.toJSON());
  assert.equal(raw.version, 2);
  assert.deepEqual(raw.tracks[0].points, [[1, 2, 0.3, 4], [50, 60, 0.5], [9, 9, 0.25]]);
});

function normalPoints(objects) {
  return objects.map((o) => o.points.map((p) => [p.x, p.y, p.label]));
}

for (const raw of CASES.points) {
  const c = forEditor(raw);
  test(`points case: ${c.name}`, () => {
    const read = () => {
      const doc = parsePoints(textOf(c));
      if (!c.scale_to || !doc.imageSize) return doc.objects;
      const [sx, sy] = [c.scale_to[0] / doc.imageSize[0], c.scale_to[1] / doc.imageSize[1]];
      return doc.objects.map((o) => ({ points: o.points.map((p) => ({ ...p, x: p.x * sx, y: p.y * sy })) }));
    };
    if (c.error) return checkError(read, c.error);
    close(normalPoints(read()), c.expect);
    if (!c.scale_to) {
      // The editor's writer reads back the same objects (empty trailing objects are not written).
      let last = c.expect.length - 1;
      while (last >= 0 && !c.expect[last].length) last--;
      close(normalPoints(parsePoints(pointsToJson(parsePoints(textOf(c)))).objects), c.expect.slice(0, last + 1));
    }
  });
}

for (const c of CASES.resample) {
  test(`resample case: ${c.name}`, () => {
    const run = () => resampleTrack(c.points, c.num_frames, { easing: c.easing });
    if (c.error) {
      assert.throws(run, (e) => c.error.mentions.every((w) => e.message.includes(w)) || assert.fail(e.message));
      return;
    }
    const out = run();
    assert.equal(out.length, c.num_frames);
    if (c.expect) out.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - c.expect[i][k]) <= 1e-9, `frame ${i}: ${row} vs ${c.expect[i]}`)));
    for (const [f, p] of Object.entries(c.expect_at || {})) assert.deepEqual(out[+f], p);
  });
}

test("palette cases: each object has the preview's colour", () => {
  for (const c of CASES.palette) {
    if (c.label === 0) assert.deepEqual(PALETTE.unlabelled, c.rgb);
    else assert.equal(objectColor(c.label - 1), `rgba(${c.rgb.join(", ")}, 1)`);
  }
});
