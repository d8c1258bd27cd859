import { test } from "node:test";
import assert from "node:assert/strict";
import { fitTransform, canvasToImage, imageToCanvas, insideImage, clampToImage, eventToCanvas, hitTestPoint, hitTestSegment } from "../js/lib/geometry.js";
import { referenceDepth, depthToD8, clampDepth, stepDepth, GreyRaster, sceneDepthAt, objectAt, MIN_DEPTH } from "../js/lib/depth.js";

test("fit transform letterboxes a portrait image and round-trips", () => {
  const t = fitTransform(288, 512, 400, 400);
  assert.equal(t.scale, 400 / 512);
  assert.equal(t.offsetY, 0);
  assert.equal(t.offsetX, (400 - 288 * t.scale) / 2);
  const [cx, cy] = imageToCanvas(t, 144, 256);
  assert.deepEqual([cx, cy], [200, 200]);
  const [x, y] = canvasToImage(t, 123.5, 77.25);
  const [cx2, cy2] = imageToCanvas(t, x, y);
  assert.ok(Math.abs(cx2 - 123.5) < 1e-9 && Math.abs(cy2 - 77.25) < 1e-9);
  assert.ok(insideImage(t, 0, 0) && !insideImage(t, 288, 10) && !insideImage(t, -0.1, 10));
  assert.deepEqual(clampToImage(t, -5, 600).map(Math.round), [0, 512]);
  assert.throws(() => fitTransform(0, 5, 10, 10), /image size must be positive/);
});

test("event coordinates undo CSS scaling", () => {
  const rect = { left: 10, top: 20, width: 200, height: 100 };
  assert.deepEqual(eventToCanvas(110, 70, rect, 400, 200), [200, 100]);
});

test("hit testing prefers the active track and the nearest point", () => {
  const tracks = [{ points: [[10, 10, 1], [50, 50, 1]] }, { points: [[12, 10, 1]] }];
  assert.deepEqual(hitTestPoint(tracks, 11.5, 10, 5), { track: 1, index: 0, dist: 0.5 });
  assert.equal(hitTestPoint(tracks, 11.5, 10, 5, 0).track, 0);
  assert.equal(hitTestPoint(tracks, 100, 100, 5), null);
  assert.equal(hitTestPoint(tracks, 48, 50, 5).index, 1);
  const seg = hitTestSegment([[0, 0], [10, 0], [10, 10]], 9, 5, 2);
  assert.deepEqual(seg, { segment: 1, dist: 1 });
  assert.equal(hitTestSegment([[0, 0], [10, 0]], 5, 5, 2), null);
});

test("reference depth is 1/d8 with 1.0 at 0", () => {
  assert.equal(referenceDepth(0), 1);
  assert.equal(referenceDepth(1), 1);
  assert.equal(referenceDepth(4), 0.25);
  assert.equal(depthToD8(0.25), 4);
  assert.equal(depthToD8(1e-9), 255);
  assert.equal(clampDepth(0), MIN_DEPTH);
  assert.equal(clampDepth(3), 1);
  assert.equal(clampDepth(NaN), 1);
  assert.ok(Math.abs(stepDepth(0.5, 1) - 0.525) < 1e-12);
  assert.ok(stepDepth(0.5, -2) < 0.5 && stepDepth(1, 3) === 1);
});

test("rasters sample at image coordinates of another resolution", () => {
  // 2x2 raster: [[0, 4], [2, 1]] read through RGBA.
  const rgba = new Uint8ClampedArray([0, 0, 0, 255, 4, 4, 4, 255, 2, 2, 2, 255, 1, 1, 1, 255]);
  const r = new GreyRaster(2, 2, rgba, true);
  assert.equal(r.at(0, 0), 0);
  assert.equal(r.at(1.5, 0.2), 4);
  assert.equal(r.at(150, 20, 200, 100), 4); // image is 200x100, raster 2x2
  assert.equal(r.at(10, 90, 200, 100), 2);
  assert.equal(r.at(-1, 0), null);
  assert.equal(sceneDepthAt(r, 150, 20, 200, 100), 0.25);
  assert.equal(sceneDepthAt(r, 10, 10, 200, 100), 1);
  assert.equal(sceneDepthAt(null, 1, 1, 2, 2), null);
  assert.equal(objectAt(r, 10, 90, 200, 100, 2), 1);
  assert.equal(objectAt(r, 150, 20, 200, 100, 2), -1); // label 4 > 2 objects
  assert.equal(objectAt(r, 0, 0, 2, 2, 2), -1);
  assert.throws(() => new GreyRaster(2, 2, [1, 2, 3]), /needs 4 values/);
});
