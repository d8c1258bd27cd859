import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTracks, tracksToJson, rescaleTracks, parsePoints, pointsToJson } from "../js/lib/tracks_json.js";

const DOC_EXAMPLE = `{
  "format": "levitor-tracks",
  "version": 1,
  "image_size": [288, 512],
  "tracks": [
    {"points": [[140, 300, 0.25], [150, 200, 0.2], [160, 120, 0.1]]},
    {"name": "ball", "points": [[60, 400, 0.5]]}
  ]
}`;

test("parses the documented example", () => {
  const doc = parseTracks(DOC_EXAMPLE);
  assert.deepEqual(doc.imageSize, [288, 512]);
  assert.equal(doc.tracks.length, 2);
  assert.deepEqual(doc.tracks[0].points[1], [150, 200, 0.2]);
  assert.equal(doc.tracks[1].name, "ball");
  assert.equal(doc.tracks[0].name, undefined);
});

test("round trip keeps the data and writes the versioned format", () => {
  const doc = parseTracks(DOC_EXAMPLE);
  const text = tracksToJson(doc);
  const raw = JSON.parse(text);
  assert.equal(raw.format, "levitor-tracks");
  assert.equal(raw.version, 1);
  assert.deepEqual(raw.image_size, [288, 512]);
  assert.deepEqual(raw.tracks[1], { name: "ball", points: [[60, 400, 0.5]] });
  assert.deepEqual(parseTracks(text), doc);
  // One point per line: hand-editable.
  assert.ok(text.split("\n").some((l) => l.trim() === "[150, 200, 0.2],"));
});

test("writer rounds coordinates to 2 decimals and depths to 4 significant digits", () => {
  const raw = JSON.parse(tracksToJson({ imageSize: null, tracks: [{ points: [[1.23456, 2.98765, 0.123456], [0, 0, 1 / 255]] }] }));
  assert.deepEqual(raw.tracks[0].points[0], [1.23, 2.99, 0.1235]);
  // Near depths keep their precision: 1/255 stays distinguishable from 1/254.
  assert.equal(raw.tracks[0].points[1][2], 0.003922);
  assert.equal(Math.round(1 / raw.tracks[0].points[1][2]), 255);
  assert.equal(raw.image_size, undefined);
});

test("empty text and empty list mean no tracks", () => {
  assert.deepEqual(parseTracks(""), { imageSize: null, tracks: [] });
  assert.deepEqual(parseTracks("  "), { imageSize: null, tracks: [] });
  assert.deepEqual(parseTracks("[]").tracks, []);
  assert.deepEqual(JSON.parse(tracksToJson({ tracks: [] })).tracks, []);
});

test("bare list of tracks; a KJNodes coord_str is not tracks JSON", () => {
  assert.deepEqual(parseTracks("[[[1, 2, 0.5], [3, 4, 0.25]]]").tracks, [{ points: [[1, 2, 0.5], [3, 4, 0.25]] }]);
  // A coord_str has no depths: it goes to the node's coord_str input, with depths.
  assert.throws(() => parseTracks('[{"x": 10, "y": 20}, {"x": 30, "y": 40}]'), (e) => e.kind === "track_shape" && /coord_str input/.test(e.message));
  assert.throws(() => parseTracks('[[{"x": 1, "y": 2}], [{"x": 3, "y": 4}]]'), (e) => e.kind === "point_shape");
});

test("bad input names the field and the rule", () => {
  const kind = (k, re) => (e) => e.kind === k && re.test(e.message);
  assert.throws(() => parseTracks("{"), kind("json", /tracks_json is not valid JSON/));
  assert.throws(() => parseTracks('{"format": "other", "tracks": []}'), kind("format", /format is "other", expected "levitor-tracks"/));
  assert.throws(() => parseTracks('{"version": 3, "tracks": []}'), kind("version", /version 3 is not supported/));
  assert.throws(() => parseTracks('{"tracks": 3}'), kind("tracks_shape", /'tracks' must be a list/));
  assert.throws(() => parseTracks('{"tracks": [{"points": [[1, 2, 0]]}]}'), kind("depth_range", /track 0 point 0 has depth 0; a depth must be in \[0.0001, 1\]/));
  assert.throws(() => parseTracks('{"tracks": [{"points": [[1, "a", 0.5]]}]}'), kind("number", /track 0 point 0 y/));
  assert.throws(() => parseTracks('{"image_size": [0, 5], "tracks": []}'), kind("image_size", /image_size width/));
  assert.throws(() => parseTracks("5"), kind("document", /must be a tracks object or a list/));
});

test("rescale changes x and y, not depth", () => {
  const out = rescaleTracks([{ points: [[100, 50, 0.3]] }], [200, 100], [100, 200]);
  assert.deepEqual(out[0].points[0], [50, 100, 0.3]);
  const same = [{ points: [[1, 1, 1]] }];
  assert.equal(rescaleTracks(same, [5, 5], [5, 5]), same);
});

test("SAM points JSON: one object, several objects, KJNodes input, errors", () => {
  const text = '{"format": "levitor-points", "version": 1, "image_size": [288, 512], "points": [{"x": 120, "y": 200, "label": 1}, {"x": 10, "y": 10, "label": 0}]}';
  const doc = parsePoints(text);
  assert.deepEqual(doc.imageSize, [288, 512]);
  assert.equal(doc.objects.length, 1);
  assert.deepEqual(doc.objects[0].points[1], { x: 10, y: 10, label: 0 });
  assert.deepEqual(JSON.parse(pointsToJson(doc)), JSON.parse(text));

  const multi = { format: "levitor-points", version: 1, image_size: [288, 512],
    objects: [{ points: [{ x: 63, y: 369, label: 1 }] }, { points: [{ x: 187, y: 235, label: 1 }, { x: 187, y: 120, label: 0 }] }] };
  const mdoc = parsePoints(JSON.stringify(multi));
  assert.equal(mdoc.objects.length, 2);
  assert.deepEqual(JSON.parse(pointsToJson(mdoc)), multi);
  // Empty trailing objects are not written; a single remaining object uses "points".
  const trimmed = JSON.parse(pointsToJson({ imageSize: null, objects: [mdoc.objects[0], { points: [] }] }));
  assert.deepEqual(trimmed, { format: "levitor-points", version: 1, points: [{ x: 63, y: 369, label: 1 }] });

  assert.deepEqual(parsePoints('[{"x": 1, "y": 2}]').objects, [{ points: [{ x: 1, y: 2, label: 1 }] }]);
  assert.deepEqual(parsePoints('[[{"x": 1, "y": 2}], [{"x": 3, "y": 4}]]').objects.length, 2);
  assert.deepEqual(parsePoints("").objects, []);
  assert.deepEqual(parsePoints('{"format": "levitor-points", "version": 1, "points": []}').objects, []);
  assert.deepEqual(JSON.parse(pointsToJson({ objects: [] })).points, []);
  assert.throws(() => parsePoints('{"points": [{"x": 1, "y": 2, "label": 2}]}'), /label must be 1/);
  assert.throws(() => parsePoints('{"points": [{"x": 1}]}'), /points_json point 0/);
  assert.throws(() => parsePoints('{"objects": [{"points": [{"x": 1}]}]}'), /points_json object 0 point 0/);
  assert.throws(() => parsePoints('{"objects": 4}'), /'objects' must be a list/);
});
