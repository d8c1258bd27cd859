// Canvas <-> image coordinate transforms and hit testing, free of any DOM dependency.

/**
 * The transform that fits an image of imageW x imageH into a canvas area of canvasW x canvasH,
 * keeping the aspect ratio and centring it.
 * @returns {{scale: number, offsetX: number, offsetY: number, imageW: number, imageH: number}}
 */
export function fitTransform(imageW, imageH, canvasW, canvasH, pad = 0) {
  if (!(imageW > 0 && imageH > 0)) throw new Error(`image size must be positive, got ${imageW}x${imageH}`);
  const availW = Math.max(1, canvasW - 2 * pad);
  const availH = Math.max(1, canvasH - 2 * pad);
  const scale = Math.min(availW / imageW, availH / imageH);
  return {
    scale,
    offsetX: (canvasW - imageW * scale) / 2,
    offsetY: (canvasH - imageH * scale) / 2,
    imageW,
    imageH,
  };
}

/** Image pixel coordinates (x = column, y = row, continuous) of a canvas point. */
export function canvasToImage(t, cx, cy) {
  return [(cx - t.offsetX) / t.scale, (cy - t.offsetY) / t.scale];
}

/** Canvas coordinates of an image point. */
export function imageToCanvas(t, x, y) {
  return [t.offsetX + x * t.scale, t.offsetY + y * t.scale];
}

/** True when the image point lies on the image. */
export function insideImage(t, x, y) {
  return x >= 0 && y >= 0 && x < t.imageW && y < t.imageH;
}

/** Clamp an image point onto the image. */
export function clampToImage(t, x, y) {
  return [Math.min(Math.max(x, 0), t.imageW - 1e-6), Math.min(Math.max(y, 0), t.imageH - 1e-6)];
}

/**
 * Canvas-space position of a pointer event relative to the element, with CSS scaling undone
 * (the canvas backing store may differ from its displayed size).
 */
export function eventToCanvas(clientX, clientY, rect, canvasW, canvasH) {
  const sx = rect.width > 0 ? canvasW / rect.width : 1;
  const sy = rect.height > 0 ? canvasH / rect.height : 1;
  return [(clientX - rect.left) * sx, (clientY - rect.top) * sy];
}

/**
 * The track point nearest to (x, y) in image coordinates within `radius` image pixels.
 * Points of `preferTrack` win ties within the radius.
 * @param {{points: number[][]}[]} tracks
 * @returns {{track: number, index: number, dist: number} | null}
 */
export function hitTestPoint(tracks, x, y, radius, preferTrack = -1) {
  let best = null;
  tracks.forEach((t, ti) => {
    t.points.forEach((p, pi) => {
      const dist = Math.hypot(p[0] - x, p[1] - y);
      if (dist > radius) return;
      const better =
        !best ||
        (ti === preferTrack && best.track !== preferTrack) ||
        ((ti === preferTrack) === (best.track === preferTrack) && dist < best.dist);
      if (better) best = { track: ti, index: pi, dist };
    });
  });
  return best;
}

/** Distance from point (x, y) to segment a-b, and the segment parameter of the foot point. */
export function pointSegmentDistance(x, y, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let u = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
  u = Math.min(1, Math.max(0, u));
  return { dist: Math.hypot(ax + u * dx - x, ay + u * dy - y), u };
}

/**
 * The segment of a polyline (track points) nearest to (x, y) within `radius`:
 * inserting a point at index `segment + 1` puts it on that segment.
 * @returns {{segment: number, dist: number} | null}
 */
export function hitTestSegment(points, x, y, radius) {
  let best = null;
  for (let i = 0; i + 1 < points.length; i++) {
    const [ax, ay] = points[i];
    const [bx, by] = points[i + 1];
    const { dist } = pointSegmentDistance(x, y, ax, ay, bx, by);
    if (dist <= radius && (!best || dist < best.dist)) best = { segment: i, dist };
  }
  return best;
}
