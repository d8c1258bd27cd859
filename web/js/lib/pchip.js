// Monotone piecewise cubic Hermite interpolation (PCHIP, Fritsch-Carlson slopes with
// one-sided three-point end slopes), 1-D, matching scipy.interpolate.PchipInterpolator.
// The core library resamples every track with it, so the editor shows the same path.

function sign(v) {
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

/** Evenly spaced samples like numpy.linspace(start, stop, num) (endpoint included). */
export function linspace(start, stop, num) {
  if (!Number.isInteger(num) || num < 0) throw new Error(`linspace: num must be a non-negative integer, got ${num}`);
  if (num === 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = new Array(num);
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  out[num - 1] = stop;
  return out;
}

function endSlope(h0, h1, m0, m1) {
  let d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
  if (sign(d) !== sign(m0)) return 0;
  if (sign(m0) !== sign(m1) && Math.abs(d) > 3 * Math.abs(m0)) return 3 * m0;
  return d;
}

/**
 * Derivatives at the knots.
 * @param {number[]} x strictly increasing knots (length >= 2)
 * @param {number[]} y values
 * @returns {number[]} slopes
 */
export function pchipSlopes(x, y) {
  const n = x.length;
  if (n < 2 || y.length !== n) throw new Error(`pchip: need >= 2 knots and as many values (got ${n} knots, ${y.length} values)`);
  const h = new Array(n - 1);
  const m = new Array(n - 1);
  for (let k = 0; k < n - 1; k++) {
    h[k] = x[k + 1] - x[k];
    if (!(h[k] > 0)) throw new Error("pchip: knots must be strictly increasing");
    m[k] = (y[k + 1] - y[k]) / h[k];
  }
  const d = new Array(n).fill(0);
  if (n === 2) {
    d[0] = m[0];
    d[1] = m[0];
    return d;
  }
  for (let k = 1; k < n - 1; k++) {
    const a = m[k - 1];
    const b = m[k];
    if (a === 0 || b === 0 || sign(a) !== sign(b)) {
      d[k] = 0;
    } else {
      const w1 = 2 * h[k] + h[k - 1];
      const w2 = h[k] + 2 * h[k - 1];
      d[k] = 1 / ((w1 / a + w2 / b) / (w1 + w2));
    }
  }
  d[0] = endSlope(h[0], h[1], m[0], m[1]);
  d[n - 1] = endSlope(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
  return d;
}

/** Interval index k with x[k] <= t < x[k+1] (clamped to the first/last interval). */
function intervalOf(x, t) {
  let lo = 0;
  let hi = x.length - 2;
  if (t < x[0]) return 0;
  if (t >= x[hi]) return hi;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (x[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A callable PCHIP interpolant through (x, y); extrapolates with the end cubics like scipy.
 * @param {number[]} x
 * @param {number[]} y
 * @returns {(t: number) => number}
 */
export function pchip(x, y) {
  const d = pchipSlopes(x, y);
  return (t) => {
    const k = intervalOf(x, t);
    const h = x[k + 1] - x[k];
    const s = t - x[k];
    const delta = (y[k + 1] - y[k]) / h;
    // Power form in the local coordinate s: y_k + d_k s + c2 s^2 + c3 s^3.
    const c2 = (3 * delta - 2 * d[k] - d[k + 1]) / h;
    const c3 = (d[k] + d[k + 1] - 2 * delta) / (h * h);
    return ((c3 * s + c2) * s + d[k]) * s + y[k];
  };
}

/** Evaluate PCHIP through (x, y) at every value of xq. */
export function pchipInterpolate(x, y, xq) {
  const f = pchip(x, y);
  return xq.map(f);
}

/**
 * The easing curves on [0, 1], as levitor.planning.tracks.ease: linear s; ease-in s^2;
 * ease-out 1 - (1 - s)^2; ease-in-out 2 s^2 below 1/2, 1 - 2 (1 - s)^2 above.
 */
export function ease(s, easing = "linear") {
  if (easing === "linear") return s;
  if (easing === "ease-in") return s * s;
  if (easing === "ease-out") return 1 - (1 - s) ** 2;
  if (easing === "ease-in-out") return s < 0.5 ? 2 * s * s : 1 - 2 * (1 - s) ** 2;
  throw new Error(`easing must be one of linear, ease-in, ease-out, ease-in-out, got ${JSON.stringify(easing)}`);
}

/** The keyframe of a point ([x, y, depth, frame]), or null. */
export function pointFrame(p) {
  return p.length > 3 && Number.isInteger(p[3]) ? p[3] : null;
}

/**
 * Where a timed track is at its points, as levitor.planning.tracks.keyframe_times: `knots`, the
 * frame position of every point (a keyed point at its frame, the first unkeyed at 0, the last
 * unkeyed at numFrames - 1, points between spread evenly by index), and `keys`, the indices of
 * the keyed points with the first and last.
 */
export function keyframeTimes(frames, numFrames, where = "track") {
  const n = frames.length;
  const last = numFrames - 1;
  frames.forEach((f, i) => {
    if (f !== null && !(f >= 0 && f <= last)) {
      throw new Error(`${where} point ${i} has frame ${f} but the plan has ${numFrames} frames (0 to ${last}); lower the frame or plan more frames`);
    }
  });
  const at = new Map();
  frames.forEach((f, i) => { if (f !== null) at.set(i, f); });
  if (!at.has(0)) at.set(0, 0);
  if (!at.has(n - 1)) at.set(n - 1, last);
  const keys = [...at.keys()].sort((a, b) => a - b);
  for (let j = 0; j + 1 < keys.length; j++) {
    const [i, k] = [keys[j], keys[j + 1]];
    if (!(at.get(k) > at.get(i))) {
      throw new Error(`${where} point ${k} is reached at frame ${at.get(k)}, not after point ${i} at frame ${at.get(i)} (a point without a frame: the first is at frame 0, the last at frame ${last}); keyframes must increase along the track`);
    }
  }
  const knots = new Array(n);
  for (let j = 0; j + 1 < keys.length; j++) {
    const [i, k] = [keys[j], keys[j + 1]];
    for (let m = i; m <= k; m++) knots[m] = at.get(i) + ((at.get(k) - at.get(i)) * (m - i)) / (k - i);
  }
  if (n === 1) knots[0] = at.get(0);
  return { knots, keys };
}

/**
 * A timed track's [x, y, depth] at frame positions `at` (fractional ones draw the curve between
 * frames), as levitor.planning.tracks.track_positions: each span between consecutive keys is
 * eased, the object holds before the first key and after the last, and is exactly at a keyed
 * point at its frame.
 */
export function trackPositions(points, at, numFrames, easing = "linear", where = "track") {
  const { knots, keys } = keyframeTimes(points.map(pointFrame), numFrames, where);
  if (points.length === 1 || numFrames === 1) return at.map(() => points[0].slice(0, 3));
  const k = keys.map((i) => knots[i]);
  const splines = [0, 1, 2].map((c) => pchip(knots, points.map((p) => p[c])));
  return at.map((q) => {
    const j = Math.min(Math.max(intervalOf(k, q), 0), k.length - 2);
    const span = k[j + 1] - k[j];
    const s = Math.min(1, Math.max(0, (q - k[j]) / span));
    const u = k[j] + ease(s, easing) * span;
    const hit = keys.find((i) => knots[i] === u);
    return hit === undefined ? splines.map((f) => f(u)) : points[hit].slice(0, 3);
  });
}

/** Whether a track has timing: a keyed point or an easing other than linear. */
export function isTimed(points, easing = "linear") {
  return (easing && easing !== "linear") || points.some((p) => pointFrame(p) !== null);
}

/**
 * Resample one track to numFrames samples, like levitor.planning.tracks.resample_track. Without
 * timing each coordinate gets its own PCHIP over t = linspace(0, 1, n) evaluated at
 * linspace(0, 1, numFrames), exactly as the library; with keyframes ([x, y, depth, frame]
 * points) or an easing, trackPositions at frames 0 .. numFrames - 1. One point means "stay here".
 * @param {number[][]} points [[x, y, depth] or [x, y, depth, frame], ...]
 * @param {number} numFrames
 * @param {{easing?: string}} timing
 * @returns {number[][]} numFrames rows of [x, y, depth]
 */
export function resampleTrack(points, numFrames, { easing = "linear", where = "track" } = {}) {
  if (!Number.isInteger(numFrames) || numFrames < 1) throw new Error(`num_frames must be a positive integer, got ${numFrames}`);
  if (!points.length) throw new Error("a track needs at least one point");
  if (isTimed(points, easing)) return trackPositions(points, linspace(0, numFrames - 1, numFrames).map((_, i) => i), numFrames, easing, where);
  if (points.length === 1) return Array.from({ length: numFrames }, () => points[0].slice(0, 3));
  const t = linspace(0, 1, points.length);
  const tq = linspace(0, 1, numFrames);
  const cols = [0, 1, 2].map((c) => pchipInterpolate(t, points.map((p) => p[c]), tq));
  return tq.map((_, i) => [cols[0][i], cols[1][i], cols[2][i]]);
}
