// Reference depth and label lookups from the 8-bit scene images the node sends after a run.

import { LIMITS } from "./contract.js";

/** Reference depth of an 8-bit disparity value: 1 / d8, and 1.0 where d8 is 0. */
export function referenceDepth(d8) {
  return d8 > 0 ? 1 / d8 : 1.0;
}

/** Nearest 8-bit disparity of a reference depth (inverse of referenceDepth for d8 >= 1). */
export function depthToD8(depth) {
  if (!(depth > 0)) return 0;
  return Math.max(1, Math.min(255, Math.round(1 / depth)));
}

/** The track depth range of the library (levitor/limits.py TRACK_DEPTH), [0.0001, 1]. */
export const MIN_DEPTH = LIMITS.TRACK_DEPTH.min;
export const MAX_DEPTH = LIMITS.TRACK_DEPTH.max;

/** Clamp a depth into the track depth range (wheel steps and clicks stop at its ends). */
export function clampDepth(d) {
  if (!Number.isFinite(d)) return MAX_DEPTH;
  return Math.min(MAX_DEPTH, Math.max(MIN_DEPTH, d));
}

/**
 * The depth after `steps` wheel notches (positive = farther). Steps are multiplicative
 * so near and far depths move at the same relative rate.
 */
export function stepDepth(depth, steps, factor = 1.05) {
  return clampDepth(clampDepth(depth) * factor ** steps);
}

/**
 * A single-channel 8-bit raster (depth8 or labels PNG) sampled at image pixels.
 * Built from RGBA pixel data (as from CanvasRenderingContext2D.getImageData): the red channel is used.
 */
export class GreyRaster {
  /**
   * @param {number} width
   * @param {number} height
   * @param {Uint8Array|Uint8ClampedArray|number[]} values width*height grey values, or RGBA when `rgba`
   * @param {boolean} rgba
   */
  constructor(width, height, values, rgba = false) {
    const n = width * height;
    if (values.length !== (rgba ? 4 * n : n)) {
      throw new Error(`raster of ${width}x${height} needs ${rgba ? 4 * n : n} values, got ${values.length}`);
    }
    this.width = width;
    this.height = height;
    this.values = new Uint8Array(n);
    if (rgba) for (let i = 0; i < n; i++) this.values[i] = values[4 * i];
    else this.values.set(values);
  }

  /**
   * Value at image point (x, y) given in the coordinates of an image of size imageW x imageH
   * (the raster may have another resolution). Null outside.
   */
  at(x, y, imageW = this.width, imageH = this.height) {
    const c = Math.floor((x * this.width) / imageW);
    const r = Math.floor((y * this.height) / imageH);
    if (c < 0 || r < 0 || c >= this.width || r >= this.height) return null;
    return this.values[r * this.width + c];
  }
}

/** Reference depth under an image point, or null when there is no depth raster or the point is outside. */
export function sceneDepthAt(depth8, x, y, imageW, imageH) {
  if (!depth8) return null;
  const v = depth8.at(x, y, imageW, imageH);
  return v === null ? null : referenceDepth(v);
}

/** Object index (0-based) under an image point, or -1 for none / static / outside. */
export function objectAt(labels, x, y, imageW, imageH, numObjects) {
  if (!labels) return -1;
  const v = labels.at(x, y, imageW, imageH);
  if (v === null || v === 0 || v > numObjects) return -1;
  return v - 1;
}

/** A ratio written with two significant digits ("0.6", "1.5", "12"), three when two read as 1. */
function ratioText(r) {
  let s = String(Number(r.toPrecision(2)));
  if (s === "1") s = String(Number(r.toPrecision(3)));
  return s;
}

/**
 * A depth in words relative to a start depth (the object's first point): depth ratio below 1 is
 * nearer, above 1 farther ("×0.6 nearer", "×1.5 farther", "same depth"). The object looks
 * 1 / ratio times its start size.
 * @returns {{ratio: number, text: string}}
 */
export function relativeDepth(depth, start) {
  if (!(depth > 0) || !(start > 0)) return { ratio: NaN, text: "–" };
  const ratio = depth / start;
  if (Math.abs(ratio - 1) < 0.0005) return { ratio, text: "same depth" };
  return { ratio, text: `×${ratioText(ratio)} ${ratio < 1 ? "nearer" : "farther"}` };
}
