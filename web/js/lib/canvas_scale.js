// Backing-store size of an editor canvas: its layout (CSS) size times the canvas zoom the host
// applies with CSS transforms times the device pixel ratio, so lines and text stay sharp at
// every zoom. Pure functions, no DOM.

/** Largest backing store in pixels (about 4096 × 4096): a 4× zoom on a big node stays bounded. */
export const MAX_BACKING_PIXELS = 4096 * 4096;

/**
 * Zoom a host applies to an element: its on-screen width over its layout width
 * (1 when the element is not laid out).
 */
export function measuredZoom(screenWidth, layoutWidth) {
  if (!(layoutWidth > 0) || !(screenWidth > 0)) return 1;
  return screenWidth / layoutWidth;
}

/**
 * Backing size for a canvas laid out at cssW × cssH shown at `zoom` on a screen with `dpr`.
 * @returns {{width: number, height: number, factor: number}} factor = backing px per CSS px.
 */
export function backingSize(cssW, cssH, zoom = 1, dpr = 1, maxPixels = MAX_BACKING_PIXELS) {
  const w = Math.max(1, cssW);
  const h = Math.max(1, cssH);
  let factor = Math.max(0.05, (zoom > 0 ? zoom : 1) * (dpr > 0 ? dpr : 1));
  if (w * h * factor * factor > maxPixels) factor = Math.sqrt(maxPixels / (w * h));
  return { width: Math.max(1, Math.round(w * factor)), height: Math.max(1, Math.round(h * factor)), factor };
}
