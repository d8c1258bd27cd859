// Shared DOM helpers for the LeviTor editors: styles, image loading, upload and paste.
// Nothing here imports ComfyUI; the host adapter passed in by the extension does the talking.

import { GreyRaster } from "./lib/depth.js";
import { PALETTE } from "./lib/contract.js";

/** Object colours, index = object index (label - 1): levitor/assets/palette.json, as the previews. */
export const OBJECT_COLORS = PALETTE.objects;

export function objectColor(i, alpha = 1) {
  const [r, g, b] = OBJECT_COLORS[((i % OBJECT_COLORS.length) + OBJECT_COLORS.length) % OBJECT_COLORS.length];
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

const STYLE_ID = "levitor-editor-style";
const CSS = `
.levitor-editor { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%;
  box-sizing: border-box; font: 12px sans-serif; color: #ddd; min-height: 0; overflow: hidden; }
.levitor-editor > * { flex: 0 0 auto; }
.levitor-editor .lv-bar { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.levitor-editor .lv-bar label { white-space: nowrap; display: inline-flex; align-items: center; gap: 2px; }
.levitor-editor button, .levitor-editor select, .levitor-editor input {
  font: 12px sans-serif; background: #333; color: #eee; border: 1px solid #555; border-radius: 4px;
  padding: 2px 6px; }
.levitor-editor input[type=number] { width: 64px; }
.levitor-editor input[type=range] { flex: 1; min-width: 60px; }
.levitor-editor .lv-stage { position: relative; flex: 1 1 0; min-height: 120px; background: #161616;
  border-radius: 4px; overflow: hidden; }
.levitor-editor .lv-stage canvas { position: absolute; inset: 0; width: 100%; height: 100%;
  outline: none; touch-action: none; cursor: crosshair; }
.levitor-editor canvas.lv-profile { width: 100%; height: 56px; flex: 0 0 56px; background: #1d1d1d;
  border-radius: 4px; cursor: ew-resize; }
.levitor-editor .lv-status { min-height: 16px; line-height: 16px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  color: #aaa; }
.levitor-editor .lv-status.lv-error { color: #ff7b7b; }
.levitor-vue-host { position: relative; box-sizing: border-box; padding: 0 8px; }
.levitor-vue-host .lv-grip { position: absolute; right: 0; bottom: -4px; width: 14px; height: 14px; cursor: nwse-resize;
  background: linear-gradient(135deg, transparent 50%, #888 50%, #888 60%, transparent 60%, transparent 75%, #888 75%, #888 85%, transparent 85%); }
`;

export function injectStyle(doc = document) {
  if (doc.getElementById(STYLE_ID)) return;
  const s = doc.createElement("style");
  s.id = STYLE_ID;
  s.textContent = CSS;
  doc.head.appendChild(s);
}

/** Create an element with properties and children. */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** Load an image URL; resolves with the decoded HTMLImageElement. */
export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load image ${url}`));
    img.src = url;
  });
}

/** Read the red channel of an image into a GreyRaster (for depth8 and label PNGs). */
export function imageToRaster(img) {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, c.width, c.height).data;
  return new GreyRaster(c.width, c.height, data, true);
}

/**
 * An offscreen canvas tinting the pixels of labels 1..n with the object colours
 * (`highlight` object stronger).
 */
export function tintLabels(raster, numObjects, alpha = 0.35, highlight = -1) {
  const c = document.createElement("canvas");
  c.width = raster.width;
  c.height = raster.height;
  const ctx = c.getContext("2d");
  const out = ctx.createImageData(c.width, c.height);
  const a = Math.round(alpha * 255);
  const aHi = Math.round(Math.min(1, alpha + 0.25) * 255);
  for (let i = 0; i < raster.values.length; i++) {
    const v = raster.values[i];
    if (v === 0 || v > numObjects) continue;
    const [r, g, b] = OBJECT_COLORS[(v - 1) % OBJECT_COLORS.length];
    out.data[4 * i] = r;
    out.data[4 * i + 1] = g;
    out.data[4 * i + 2] = b;
    out.data[4 * i + 3] = v - 1 === highlight ? aHi : a;
  }
  ctx.putImageData(out, 0, 0);
  return c;
}

/** A mask PNG (white = inside) as a tinted overlay canvas. */
export function tintMask(img, rgb = [64, 160, 255], alpha = 0.45) {
  const raster = imageToRaster(img);
  const c = document.createElement("canvas");
  c.width = raster.width;
  c.height = raster.height;
  const ctx = c.getContext("2d");
  const out = ctx.createImageData(c.width, c.height);
  for (let i = 0; i < raster.values.length; i++) {
    if (raster.values[i] < 128) continue;
    out.data.set([rgb[0], rgb[1], rgb[2], Math.round(alpha * 255)], 4 * i);
  }
  ctx.putImageData(out, 0, 0);
  return c;
}

/**
 * Upload a File/Blob through the host's /upload/image route.
 * @returns {Promise<{filename: string, subfolder: string, type: string}>}
 */
export async function uploadImage(host, file) {
  const body = new FormData();
  body.append("image", file, file.name || "levitor_paste.png");
  body.append("type", "input");
  const res = await host.fetch("/upload/image", { method: "POST", body });
  if (!res.ok) throw new Error(`upload failed: HTTP ${res.status}`);
  const j = await res.json();
  return { filename: j.name, subfolder: j.subfolder || "", type: j.type || "input" };
}

/** The first image file in a paste or drop event, or null. */
export function imageFromTransfer(dt) {
  if (!dt) return null;
  for (const f of dt.files || []) if (f.type.startsWith("image/")) return f;
  for (const item of dt.items || []) {
    if (item.kind === "file" && item.type.startsWith("image/")) return item.getAsFile();
  }
  return null;
}

/**
 * Make a focusable editor element count as a text field for the host's global key handlers
 * (which leave text fields alone), so Ctrl+Z, Delete and paste while it has focus act on the
 * editor and not on the graph. Some hosts listen in the capture phase, where stopping the
 * event's propagation is too late; they check the focused element's `type` instead.
 */
export function claimKeyboard(element) {
  try {
    Object.defineProperty(element, "type", { value: "textarea", configurable: true });
  } catch (err) {
    /* a host element that already defines type: nothing to do */
  }
  return element;
}
