// The part both in-canvas editors share: a toolbar, a stage canvas drawn at the host's zoom and
// the screen's pixel ratio, an image under it (uploaded, pasted, dropped or sent by a run), the
// node's JSON widget as the only state, label placement and a status line.
// Subclasses: TrajectoryEditor (trajectory_widget.js) and SamPointPicker (sam_widget.js).

import { fitTransform, canvasToImage, imageToCanvas, eventToCanvas } from "./lib/geometry.js";
import { backingSize, measuredZoom } from "./lib/canvas_scale.js";
import { placeLabels, wrapText } from "./lib/labels.js";
import { injectStyle, el, loadImage, uploadImage, imageFromTransfer, claimKeyboard } from "./ui_common.js";

export const EMPTY_TEXT = "Run once or click Image… to load the start image";
const LABEL_FONT = "11px sans-serif";
const LABEL_H = 15;

/**
 * Size a canvas's backing store to its layout size × the zoom the host applies through CSS
 * transforms × the device pixel ratio, and return its 2D context set up to draw in layout
 * (CSS) pixels. The layout size, zoom and ratio are kept on the element.
 */
export function fitCanvas(canvas) {
  const w = Math.max(1, canvas.clientWidth || Math.round(canvas.getBoundingClientRect().width));
  const h = Math.max(1, canvas.clientHeight || Math.round(canvas.getBoundingClientRect().height));
  const zoom = measuredZoom(canvas.getBoundingClientRect().width, canvas.clientWidth);
  const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
  const b = backingSize(w, h, zoom, dpr);
  if (canvas.width !== b.width || canvas.height !== b.height) {
    canvas.width = b.width;
    canvas.height = b.height;
  }
  canvas.lvCssSize = [w, h];
  canvas.lvScale = { zoom, dpr, factor: b.factor };
  const ctx = canvas.getContext("2d");
  ctx.setTransform(b.width / w, 0, 0, b.height / h, 0, 0);
  return ctx;
}

/** Layout size [width, height] of a canvas in CSS pixels (as of its last fitCanvas). */
export function canvasSize(canvas) {
  return canvas.lvCssSize || [canvas.width, canvas.height];
}

/** Whether the zoom or pixel ratio changed since the canvas was last fitted. */
function scaleChanged(canvas) {
  const s = canvas.lvScale;
  if (!s || !canvas.clientWidth) return !!canvas.clientWidth;
  const zoom = measuredZoom(canvas.getBoundingClientRect().width, canvas.clientWidth);
  const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
  return Math.abs(zoom - s.zoom) > 1e-3 || dpr !== s.dpr || canvas.clientWidth !== s.w;
}

/**
 * Wheel events reach the editors from a window listener in the capture phase, before any host
 * handler: the Vue node renderer captures every wheel event over its nodes and turns it into a
 * canvas zoom. An editor that uses the event (`onWheel` returns true) keeps it from the host.
 */
const wheelEditors = new WeakMap();
let wheelHooked = false;

function hookWheel() {
  if (wheelHooked || typeof window === "undefined") return;
  wheelHooked = true;
  window.addEventListener("wheel", (e) => {
    const editor = wheelEditors.get(e.target);
    if (editor && editor.onWheel && editor.onWheel(e)) {
      e.preventDefault();
      e.stopPropagation();
    }
  }, { capture: true, passive: false });
}

export class CanvasEditor {
  /**
   * `binding`: getText() / setText(text) for the node's JSON widget, properties (saved with the
   * workflow), nodeId, getNumFrames(). `host`: { viewURL(ref), fetch(path, init), markDirty() }.
   * Subclasses set `this.model` (load(text, size), toJSON(), setImageSize(size)) before calling
   * build(), and define drawScene(ctx, t), statusText(t), onKey(e) and the pointer handlers
   * they need (onPointerDown, onPointerMove, onPointerUp, onContextMenu, and onWheel, which
   * returns true when it used the event).
   */
  constructor(host, binding, textName) {
    injectStyle();
    this.host = host;
    this.binding = binding;
    this.textName = textName;
    this.image = null;
    this.hover = null;
    this.error = "";
    this.labelBoxes = [];
    this._labels = [];
    this._obstacles = [];
  }

  /** Re-read the JSON widget and the saved background (after creation and after a workflow loads). */
  restore() {
    this.reloadFromWidget();
    const ref = this.binding.properties && this.binding.properties.levitor_image;
    const key = ref ? JSON.stringify(ref) : "";
    if (ref && key !== this._backgroundKey) {
      this._backgroundKey = key;
      this.setBackground(ref).catch(() => {});
    }
  }

  // ---- DOM --------------------------------------------------------------------------------

  button(label, title, fn) {
    return el("button", { textContent: label, title, onclick: (e) => { e.preventDefault(); fn(); } });
  }

  /** The "Image…" button (and its hidden file input) that uploads a background. */
  imageButton() {
    const input = el("input", { type: "file", accept: "image/*", style: "display:none", onchange: () => { const f = input.files[0]; if (f) this.upload(f); input.value = ""; } });
    this.fileInput = input;
    return [this.button("Image…", "Upload a background image (or paste / drop one)", () => input.click()), input];
  }

  /** Assemble toolbar, stage canvas, `below` elements and status line; wire the events. */
  build(toolbarItems, below = []) {
    this.toolbar = el("div", { class: "lv-bar" }, ...toolbarItems);
    this.canvas = el("canvas", { tabIndex: 0, class: "lv-main" });
    this.stage = el("div", { class: "lv-stage" }, this.canvas);
    this.status = el("div", { class: "lv-status" });
    this.element = el("div", { class: "levitor-editor" }, this.toolbar, this.stage, ...below, this.status);
    const c = claimKeyboard(this.canvas);
    const on = (name, fn, opts) => c.addEventListener(name, (e) => fn.call(this, e), opts);
    on("pointerdown", (e) => { this.canvas.focus({ preventScroll: true }); if (this.onPointerDown) this.onPointerDown(e); });
    on("pointermove", (e) => { if (this.onPointerMove) this.onPointerMove(e); else { this.hover = this.eventImage(e); this.render(); } });
    if (this.onPointerUp) { on("pointerup", this.onPointerUp); on("pointercancel", this.onPointerUp); }
    on("pointerleave", () => { this.hover = null; this.render(); });
    on("contextmenu", (e) => { e.preventDefault(); e.stopPropagation(); if (this.onContextMenu) this.onContextMenu(e); });
    wheelEditors.set(c, this);
    hookWheel();
    on("keydown", this.onKey);
    const root = this.element;
    // Hand edits of the JSON text made while the pointer was elsewhere.
    root.addEventListener("pointerenter", () => this.reloadFromWidget());
    // A node renderer that drags nodes on pointerdown (the Vue node renderer) must not see
    // pointers that start inside the editor.
    root.addEventListener("pointerdown", (e) => e.stopPropagation());
    root.addEventListener("paste", (e) => { const f = imageFromTransfer(e.clipboardData); if (f) { e.preventDefault(); this.upload(f); } });
    root.addEventListener("dragover", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { e.preventDefault(); e.stopPropagation(); } });
    root.addEventListener("drop", (e) => { const f = imageFromTransfer(e.dataTransfer); if (f) { e.preventDefault(); e.stopPropagation(); this.upload(f); } });
    if (typeof ResizeObserver !== "undefined") {
      this._resize = new ResizeObserver(() => this.render());
      this._resize.observe(this.stage);
    }
  }

  // ---- state in / out ---------------------------------------------------------------------

  /** Re-read the JSON widget (after load, a hand edit or an undo outside the editor). */
  reloadFromWidget() {
    const text = this.binding.getText() || "";
    if (text === this._written) return;
    try {
      this.model.load(text, this.image ? [this.image.naturalWidth, this.image.naturalHeight] : null);
      this.afterLoad();
      this.error = "";
    } catch (err) {
      this.error = `${this.textName}: ${err.message}`;
    }
    this._written = text;
    this.render();
  }

  /** Hook after the model read the widget text. */
  afterLoad() {}

  /** Write the model to the widget and redraw. */
  commit() {
    const text = this.model.toJSON();
    this._written = text;
    this.binding.setText(text);
    this.error = "";
    this.host.markDirty();
    this.render();
    this.afterCommit();
  }

  /** Hook after a commit (the trajectory editor refreshes its preview). */
  afterCommit() {}

  // ---- images -----------------------------------------------------------------------------

  imageSize() {
    if (this.image) return [this.image.naturalWidth, this.image.naturalHeight];
    return this.model.imageSize;
  }

  /** Take the current image's size; points drawn on another size are scaled (and written). */
  adoptImageSize() {
    const size = [this.image.naturalWidth, this.image.naturalHeight];
    const old = this.model.imageSize;
    this.model.setImageSize(size);
    if (this.hasPoints() && (!old || old[0] !== size[0] || old[1] !== size[1])) this.commit();
  }

  /** Show an image reference ({filename, subfolder, type}) as the background. */
  async setBackground(ref) {
    this.image = await loadImage(this.host.viewURL(ref));
    this.adoptImageSize();
    this.render();
  }

  async upload(file) {
    try {
      this.status.textContent = "uploading…";
      const ref = await uploadImage(this.host, file);
      if (this.binding.properties) this.binding.properties.levitor_image = ref;
      this.clearScene();
      await this.setBackground(ref);
    } catch (err) {
      this.error = err.message;
      this.render();
    }
  }

  /** Hook: forget what the last run sent when the user uploads another image. */
  clearScene() {}

  // ---- coordinates ------------------------------------------------------------------------

  transform() {
    const size = this.imageSize();
    return size ? fitTransform(size[0], size[1], ...canvasSize(this.canvas), 4) : null;
  }

  /** Image coordinates of a pointer event, with the transform: {t, x, y} (null without an image). */
  eventImage(e) {
    const t = this.transform();
    if (!t) return null;
    const [cx, cy] = eventToCanvas(e.clientX, e.clientY, this.canvas.getBoundingClientRect(), ...canvasSize(this.canvas));
    const [x, y] = canvasToImage(t, cx, cy);
    return { t, x, y };
  }

  /** Viewport (client) coordinates of an image pixel, at the current zoom (tests click there). */
  imageToClient(x, y) {
    const t = this.transform();
    const r = this.canvas.getBoundingClientRect();
    const [cw, ch] = canvasSize(this.canvas);
    const [cx, cy] = imageToCanvas(t, x, y);
    return [r.left + (cx * r.width) / cw, r.top + (cy * r.height) / ch];
  }

  // ---- drawing ----------------------------------------------------------------------------

  render() {
    if (this._raf) return;
    const run = () => { this._raf = 0; this._draw(); };
    if (typeof requestAnimationFrame !== "undefined") this._raf = requestAnimationFrame(run);
    else run();
  }

  /** Draw synchronously (tests call this before reading pixels). */
  drawNow() {
    if (this._raf) cancelAnimationFrame(this._raf);
    this._raf = 0;
    this._draw();
  }

  /**
   * Called by the host on each frame it draws (and after zoom or pan): redraw when the zoom or
   * the pixel ratio changed, or when what `watch()` returns did (the frame count).
   */
  checkScale() {
    if (!this.canvas || !this.canvas.isConnected) return;
    const key = this.watch();
    if (scaleChanged(this.canvas) || key !== this._watchKey) {
      this._watchKey = key;
      this.render();
    }
  }

  /** Hook: a value that needs a redraw when it changes. */
  watch() {
    return "";
  }

  /** Queue a label next to the point at canvas (x, y) with radius r; `texts` longest first. */
  addLabel(id, x, y, r, texts, color = "#fff", priority = 0) {
    this._labels.push({ id, x, y, r, texts, color, priority });
  }

  /** Keep labels off a box (a point marker or a note). */
  addObstacle(x, y, w, h) {
    this._obstacles.push({ x, y, w, h });
  }

  /** A note at the top left of the stage, wrapped to the stage width (kept clear of labels). */
  drawNote(ctx, text, color = "#ffcc66") {
    const [cw] = canvasSize(this.canvas);
    ctx.font = LABEL_FONT;
    const lines = wrapText(text, cw - 18, (s) => ctx.measureText(s).width);
    const w = Math.min(cw - 8, Math.max(...lines.map((s) => ctx.measureText(s).width)) + 8);
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    ctx.fillRect(4, 4, w, lines.length * 14 + 4);
    ctx.fillStyle = color;
    lines.forEach((s, i) => ctx.fillText(s, 8, 16 + i * 14));
    this.addObstacle(4, 4, w, lines.length * 14 + 4);
  }

  _drawEmpty(ctx, cw, ch) {
    ctx.font = "13px sans-serif";
    const lines = wrapText(EMPTY_TEXT, Math.max(60, cw - 24), (s) => ctx.measureText(s).width);
    ctx.fillStyle = "#9a9a9a";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const y0 = ch / 2 - ((lines.length - 1) * 17) / 2;
    lines.forEach((s, i) => ctx.fillText(s, cw / 2, y0 + i * 17));
    ctx.textAlign = "start";
    ctx.textBaseline = "alphabetic";
  }

  _drawLabels(ctx, cw, ch) {
    ctx.font = LABEL_FONT;
    const reqs = this._labels.map((q) => ({
      ...q, h: LABEL_H, texts: q.texts.map((text) => ({ text, w: Math.ceil(ctx.measureText(text).width) + 6 })),
    }));
    const colors = new Map(this._labels.map((q) => [q.id, q.color]));
    const placed = placeLabels(reqs, { x: 0, y: 0, w: cw, h: ch }, this._obstacles);
    for (const b of placed) {
      ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
      ctx.fillRect(b.x, b.y, b.w, b.h);
      ctx.fillStyle = colors.get(b.id);
      ctx.fillText(b.text, b.x + 3, b.y + 11);
    }
    this.labelBoxes = placed;
  }

  _draw() {
    this.beforeDraw();
    const ctx = fitCanvas(this.canvas);
    this.canvas.lvScale.w = this.canvas.clientWidth;
    const [cw, ch] = canvasSize(this.canvas);
    ctx.clearRect(0, 0, cw, ch);
    this._labels = [];
    this._obstacles = [];
    const t = this.transform();
    if (!t) this._drawEmpty(ctx, cw, ch);
    else {
      const [x0, y0] = imageToCanvas(t, 0, 0);
      const w = t.imageW * t.scale;
      const h = t.imageH * t.scale;
      if (this.image) ctx.drawImage(this.image, x0, y0, w, h);
      else {
        ctx.fillStyle = "#2a2a2a";
        ctx.fillRect(x0, y0, w, h);
      }
      this.drawScene(ctx, t, { x0, y0, w, h });
    }
    this._drawLabels(ctx, cw, ch);
    this.afterDraw();
    if (this.error) {
      this.status.textContent = this.error;
      this.status.classList.add("lv-error");
    } else {
      this.status.classList.remove("lv-error");
      this.status.textContent = this.statusText(t);
    }
  }

  /** Hooks around a draw (sync the toolbar, draw extra canvases). */
  beforeDraw() {}

  afterDraw() {}
}
