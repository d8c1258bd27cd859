import { test } from "node:test";
import assert from "node:assert/strict";
import { TrackModel } from "../js/lib/track_model.js";
import { PointsModel } from "../js/lib/points_model.js";

test("add, move, depth, delete with undo and redo", () => {
  const m = new TrackModel();
  m.ensureTracks(2);
  m.imageSize = [288, 512];
  assert.equal(m.addPoint(10, 20, 0.5), 0);
  assert.equal(m.addPoint(30, 40, 0.4), 1);
  m.movePoint(0, 1, 35, 45, true);
  m.movePoint(0, 1, 36, 46, false); // same drag
  m.setDepth(0, 1, 0.2);
  assert.deepEqual(m.tracks[0].points, [[10, 20, 0.5], [36, 46, 0.2]]);
  m.undo();
  assert.deepEqual(m.tracks[0].points[1], [36, 46, 0.4]);
  m.undo();
  assert.deepEqual(m.tracks[0].points[1], [30, 40, 0.4]);
  m.redo();
  assert.deepEqual(m.tracks[0].points[1], [36, 46, 0.4]);
  m.deletePoint(0, 0);
  assert.deepEqual(m.tracks[0].points, [[36, 46, 0.4]]);
  assert.equal(m.selected, 0);
  m.undo();
  assert.equal(m.tracks[0].points.length, 2);
  while (m.undo());
  assert.deepEqual(m.tracks[0].points, []);
  assert.equal(m.undo(), false);
});

test("insert between points and clamp depth", () => {
  const m = new TrackModel();
  m.addPoint(0, 0, 0.5);
  m.addPoint(10, 0, 0.5);
  assert.equal(m.addPoint(5, 1, 7, 1), 1);
  assert.deepEqual(m.tracks[0].points.map((p) => p[0]), [0, 5, 10]);
  assert.equal(m.tracks[0].points[1][2], 1);
});

test("tracks per object, clear and clear all are undoable", () => {
  const m = new TrackModel();
  m.ensureTracks(3);
  m.selectTrack(2);
  m.addPoint(1, 1, 0.3);
  m.selectTrack(0);
  m.addPoint(2, 2, 0.3);
  m.clearTrack();
  assert.deepEqual(m.tracks[0].points, []);
  m.undo();
  assert.equal(m.tracks[0].points.length, 1);
  m.clearAll();
  assert.ok(m.tracks.every((t) => !t.points.length));
  m.undo();
  assert.equal(m.tracks[2].points.length, 1);
  assert.equal(m.addTrack(), 3);
  assert.equal(m.active, 3);
  assert.throws(() => m.selectTrack(-1), /non-negative integer/);
  assert.throws(() => m.deletePoint(1, 0), /no point 0 on track 1/);
});

test("JSON: empty trailing tracks dropped, earlier ones kept; load rescales", () => {
  const m = new TrackModel();
  m.imageSize = [100, 200];
  m.ensureTracks(3);
  m.selectTrack(1);
  m.addPoint(50, 100, 0.25);
  const raw = JSON.parse(m.toJSON());
  assert.deepEqual(raw.image_size, [100, 200]);
  assert.deepEqual(raw.tracks, [{ points: [] }, { points: [[50, 100, 0.25]] }]);
  assert.equal(m.firstGap(), 0);
  m.selectTrack(0);
  m.addPoint(1, 1, 0.5);
  assert.equal(m.firstGap(), -1);
  m.undo();

  const n = new TrackModel();
  n.load(m.toJSON(), [200, 400]);
  assert.deepEqual(n.tracks[1].points[0], [100, 200, 0.25]);
  assert.deepEqual(n.imageSize, [200, 400]);
  assert.equal(n.canUndo, false);
  n.setImageSize([100, 200]);
  assert.deepEqual(n.tracks[1].points[0], [50, 100, 0.25]);
  const r = n.resampled(1, 4);
  assert.equal(r.length, 4);
  assert.equal(n.resampled(0, 4), null);
  assert.throws(() => n.load("{oops"), /not valid JSON/);
});

test("SAM points model: per-object points, undo, JSON, rescale", () => {
  const p = new PointsModel();
  p.imageSize = [10, 10];
  p.add(1, 1, 1);
  p.add(5, 5, 0);
  assert.equal(p.hit(5.5, 5, 1), 1);
  assert.equal(p.hit(9, 9, 1), -1);
  p.remove(0);
  assert.deepEqual(p.points, [{ x: 5, y: 5, label: 0 }]);
  p.undo();
  assert.equal(p.points.length, 2);
  const raw = JSON.parse(p.toJSON());
  assert.deepEqual(raw, { format: "levitor-points", version: 1, image_size: [10, 10], points: [{ x: 1, y: 1, label: 1 }, { x: 5, y: 5, label: 0 }] });
  assert.equal(p.firstGap(), -1);

  assert.equal(p.addObject(), 1);
  assert.equal(p.firstGap(), -1); // the new object is still empty and last
  p.add(8, 8, 0);
  assert.equal(p.firstGap(), 1); // only a negative point: the object needs a positive one
  p.add(7, 7, 1);
  const two = JSON.parse(p.toJSON());
  assert.equal(two.objects.length, 2);
  assert.deepEqual(two.objects[1].points, [{ x: 8, y: 8, label: 0 }, { x: 7, y: 7, label: 1 }]);
  p.selectObject(0);
  assert.equal(p.hit(8, 8, 1), -1); // hits only the selected object's points
  p.undo();
  assert.equal(p.objects[1].points.length, 1);

  const q = new PointsModel();
  q.load(p.toJSON(), [20, 20]);
  assert.equal(q.objects.length, 2);
  assert.deepEqual(q.objects[0].points[1], { x: 10, y: 10, label: 0 });
  q.clear();
  assert.deepEqual(q.points, []);
  q.undo();
  assert.equal(q.points.length, 2);
  assert.equal(q.totalPoints, 3);
  q.load("");
  assert.deepEqual(q.objects, [{ points: [] }]);
  assert.throws(() => q.add(1, 1, 2), /label must be 1/);
  assert.throws(() => q.remove(3), /no point 3 on object 1/);
});

test("keyframes and easing: set, refuse out of order, undo, survive edits and rescaling", () => {
  const m = new TrackModel();
  m.imageSize = [100, 100];
  m.addPoint(0, 0, 0.5);
  m.addPoint(10, 0, 0.5);
  m.addPoint(20, 0, 0.5);
  m.setFrame(0, 1, 6);
  assert.deepEqual(m.tracks[0].points[1], [10, 0, 0.5, 6]);
  assert.equal(m.frameOf(0, 1), 6);
  m.setFrame(0, 2, 9);
  // Point 1 is at 6 and point 2 at 9: point 1 cannot move to 9, point 2 not to 6.
  assert.throws(() => m.setFrame(0, 1, 9), /point 2 is at frame 9/);
  assert.throws(() => m.setFrame(0, 2, 6), /point 1 is already at frame 6/);
  assert.throws(() => m.setFrame(0, 0, 2.5), /whole number/);
  assert.deepEqual(m.tracks[0].points.map((p) => p[3]), [undefined, 6, 9]);
  m.movePoint(0, 1, 12, 3);
  m.setDepth(0, 1, 0.25);
  assert.deepEqual(m.tracks[0].points[1], [12, 3, 0.25, 6]);
  m.setEasing(0, "ease-out");
  assert.equal(m.tracks[0].easing, "ease-out");
  assert.throws(() => m.setEasing(0, "bounce"), /easing must be one of/);
  m.undo(); // the easing
  assert.equal(m.tracks[0].easing, undefined);
  m.setFrame(0, 2, null);
  assert.deepEqual(m.tracks[0].points[2], [20, 0, 0.5]);
  m.undo();
  assert.deepEqual(m.tracks[0].points[2], [20, 0, 0.5, 9]);
  m.setImageSize([200, 50]);
  assert.deepEqual(m.tracks[0].points[1], [24, 1.5, 0.25, 6]);
  // Inserting a point between keyframes keeps the others' frames.
  m.addPoint(18, 0, 0.5, 2);
  assert.deepEqual(m.tracks[0].points.map((p) => p[3]), [undefined, 6, undefined, 9]);
  // The resampled path is at point 1 on frame 6 and at point 3 from frame 9 on (12 frames).
  const r = m.resampled(0, 12);
  assert.deepEqual(r[6], [24, 1.5, 0.25]);
  assert.deepEqual(r[11], [40, 0, 0.5]);
  // A keyframe past the last frame of a shorter plan is an error naming it.
  assert.throws(() => m.resampled(0, 8), /track 0 point 3 has frame 9 but the plan has 8 frames/);
  const raw = JSON.parse(m.toJSON());
  assert.equal(raw.version, 2);
  assert.deepEqual(raw.tracks[0].points[3], [40, 0, 0.5, 9]);
});
