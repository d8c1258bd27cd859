import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pchip, pchipSlopes, pchipInterpolate, linspace, resampleTrack } from "../js/lib/pchip.js";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/pchip_cases.json", import.meta.url), "utf8"));

function close(actual, expected, tol, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((v, i) => {
    const e = expected[i];
    assert.ok(Math.abs(v - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: ${v} != ${e}`);
  });
}

test("fixture has cases from scipy", () => {
  assert.equal(fixture.source, "scipy.interpolate.PchipInterpolator");
  assert.ok(fixture.cases.length >= 10);
});

for (const c of fixture.cases) {
  test(`pchip matches scipy: ${c.name}`, () => {
    close(pchipInterpolate(c.x, c.y, c.xq), c.yq, 1e-10, c.name);
  });
}

for (const [i, t] of fixture.tracks.entries()) {
  test(`resampleTrack matches scipy per coordinate (track ${i})`, () => {
    const out = resampleTrack(t.points, t.num_frames);
    assert.equal(out.length, t.num_frames);
    out.forEach((row, f) => close(row, t.resampled[f], 1e-10, `track ${i} frame ${f}`));
  });
}

test("pchip passes through the knots and keeps monotone data monotone", () => {
  const x = [0, 0.2, 0.5, 1];
  const y = [0, 0.1, 0.8, 1];
  const f = pchip(x, y);
  x.forEach((xi, i) => assert.ok(Math.abs(f(xi) - y[i]) < 1e-12));
  let prev = -Infinity;
  for (const t of linspace(0, 1, 101)) {
    const v = f(t);
    assert.ok(v >= prev - 1e-12, `not monotone at ${t}`);
    prev = v;
  }
});

test("two knots give a straight line", () => {
  assert.deepEqual(pchipSlopes([0, 2], [1, 5]), [2, 2]);
  assert.equal(pchip([0, 2], [1, 5])(0.5), 2);
});

test("one point stays", () => {
  const out = resampleTrack([[3, 4, 0.5]], 5);
  assert.equal(out.length, 5);
  out.forEach((r) => assert.deepEqual(r, [3, 4, 0.5]));
});

test("bad input gives clear errors", () => {
  assert.throws(() => pchipSlopes([0], [1]), /need >= 2 knots/);
  assert.throws(() => pchipSlopes([0, 0], [1, 2]), /strictly increasing/);
  assert.throws(() => resampleTrack([], 16), /at least one point/);
  assert.throws(() => resampleTrack([[0, 0, 1]], 0), /num_frames/);
});

test("linspace matches numpy endpoints", () => {
  assert.deepEqual(linspace(0, 1, 1), [0]);
  assert.deepEqual(linspace(0, 1, 3), [0, 0.5, 1]);
  assert.equal(linspace(0, 1, 16)[15], 1);
});
