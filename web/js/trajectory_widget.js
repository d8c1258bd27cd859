// In-canvas 3D trajectory editor for LeviTorTrajectory3DEditor.
// The state lives in the node's `tracks_json` STRING widget; this DOM widget only edits it.

import { TrackModel } from "./lib/track_model.js";
import { fitTransform, canvasToImage, imageToCanvas, insideImage, clampToImage, eventToCanvas, hitTestPoint, hitTestSegment } from "./lib/geometry.js";
import { sceneDepthAt, objectAt, stepDepth, clampDepth } from "./lib/depth.js";
import { linspace } from "./lib/pchip.js";
import { injectStyle, el, loadImage, imageToRaster, tintLabels, uploadImage, imageFromTransfer, fitCanvas, canvasSize, drawLabel, objectColor, claimKeyboard } from "./ui_common.js";

const HIT_PX = 9; // canvas pixels
const SEGMENT_PX = 6;
const DEFAULT_DEPTH = 0.5;
const WHEEL_MERGE_MS = 700;

function fmt(d) {
  return d === null || d === undefined ? "–" : d.toFixed(4);
}

/** Short depth text: small depths (near objects) keep more decimals. */
function shortDepth(d) {
  return d < 0.1 ? d.toFixed(4) : d.toFixed(3);
}

/**
 * The trajectory editor. `binding` connects it to the node:
 *   getText() / setText(text): the tracks_json widget value,
 *   nodeId: string for the preview route,
 *   getNumFrames(): number | null (the node's num_frames widget if it has one),
 *   properties: an object saved with the workflow (for the uploaded background).
 * `host`: { viewURL(ref), fetch(path, init), markDirty() }.
 */
export class TrajectoryEditor {
  constructor(host, binding) {
    injectStyle();
    this.host = host;
    this.binding = binding;
    this.model = new TrackModel();
    this.image = null; // HTMLImageElement
    this.depth8 = null; // GreyRaster
    this.labels = null; // GreyRaster
    this.numObjects = 0;
    this.tint = null;
    this.previewImg = null;
    this.previewSeq = 0;
    this.previewTimer = null;
    this.drag = null;
    this.hover = null;
    this.lastWheel = null;
    this.error = "";
    this.frame = 0;
    this.sceneNodeId = null;
    this._build();
    this.restore();
  }

  /**
   * Re-read the node's JSON widget and saved background (after creation and after a workflow
   * is loaded, when the frontend has filled in widget values and properties).
   */
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

  _build() {
    const b = (label, title, fn) => el("button", { textContent: label, title, onclick: (e) => { e.preventDefault(); fn(); } });
    this.trackSelect = el("select", { title: "Track to edit (track k moves object k)", onchange: () => { this.model.selectTrack(+this.trackSelect.value); this.render(); } });
    this.depthInput = el("input", { type: "number", step: "0.0001", min: "0.0039", max: "1", title: "Depth of the selected point (reference units, smaller = nearer)", onchange: () => this._depthFromField() });
    this.fileInput = el("input", { type: "file", accept: "image/*", style: "display:none", onchange: () => { const f = this.fileInput.files[0]; if (f) this.upload(f); this.fileInput.value = ""; } });
    this.toolbar = el("div", { class: "lv-bar" },
      this.trackSelect,
      b("+ Track", "Add a track", () => { this.model.addTrack(); this.commit(); }),
      el("span", { textContent: "depth" }), this.depthInput,
      b("Delete", "Delete the selected point (Del / right click)", () => this.deleteSelected()),
      b("Undo", "Undo (Ctrl+Z)", () => { if (this.model.undo()) this.commit(); }),
      b("Clear", "Remove every point of this track", () => { this.model.clearTrack(); this.commit(); }),
      b("Clear all", "Remove every point of every track", () => { this.model.clearAll(); this.commit(); }),
      b("Image…", "Upload a background image (or paste / drop one)", () => this.fileInput.click()),
      this.fileInput);
    this.canvas = el("canvas", { tabIndex: 0, class: "lv-main" });
    this.stage = el("div", { class: "lv-stage" }, this.canvas);
    this.profile = el("canvas", { class: "lv-profile", title: "Depth over the frames (click to choose the preview frame)" });
    this.frameInput = el("input", { type: "range", min: "0", max: "15", value: "0", title: "Frame shown by the preview", oninput: () => this.setFrame(+this.frameInput.value) });
    this.frameLabel = el("span", { textContent: "frame 0" });
    this.framesInput = el("input", { type: "number", min: "1", max: "128", value: "16", title: "Number of frames (when the node has no num_frames input)", onchange: () => { this._syncFrames(); this.render(); this.schedulePreview(); } });
    this.previewToggle = el("input", { type: "checkbox", title: "Render the moved masks live on the server", onchange: () => { if (this.previewToggle.checked) this.schedulePreview(0); else { this.previewImg = null; this.render(); } } });
    this.scrub = el("div", { class: "lv-bar" }, el("span", { textContent: "frames" }), this.framesInput, this.frameInput, this.frameLabel,
      el("label", {}, this.previewToggle, " live preview"));
    this.status = el("div", { class: "lv-status" });
    this.element = el("div", { class: "levitor-editor" }, this.toolbar, this.stage, this.profile, this.scrub, this.status);

    // Pick up hand edits of the JSON text made while the pointer was elsewhere.
    this.element.addEventListener("pointerenter", () => this.reloadFromWidget());
    const c = claimKeyboard(this.canvas);
    c.addEventListener("pointerdown", (e) => this._onDown(e));
    c.addEventListener("pointermove", (e) => this._onMove(e));
    c.addEventListener("pointerup", (e) => this._onUp(e));
    c.addEventListener("pointercancel", (e) => this._onUp(e));
    c.addEventListener("pointerleave", () => { this.hover = null; this.render(); });
    c.addEventListener("contextmenu", (e) => this._onContext(e));
    c.addEventListener("wheel", (e) => this._onWheel(e), { passive: false });
    c.addEventListener("keydown", (e) => this._onKey(e));
    this.element.addEventListener("paste", (e) => { const f = imageFromTransfer(e.clipboardData); if (f) { e.preventDefault(); this.upload(f); } });
    this.element.addEventListener("dragover", (e) => { if (imageFromTransfer(e.dataTransfer) || (e.dataTransfer && [...e.dataTransfer.types].includes("Files"))) { e.preventDefault(); e.stopPropagation(); } });
    this.element.addEventListener("drop", (e) => { const f = imageFromTransfer(e.dataTransfer); if (f) { e.preventDefault(); e.stopPropagation(); this.upload(f); } });
    const setFrameFromProfile = (e) => {
      const r = this.profile.getBoundingClientRect();
      const n = this.numFrames();
      this.setFrame(Math.round(((e.clientX - r.left) / Math.max(1, r.width)) * (n - 1)));
    };
    this.profile.addEventListener("pointerdown", (e) => { this.profile.setPointerCapture(e.pointerId); setFrameFromProfile(e); });
    this.profile.addEventListener("pointermove", (e) => { if (e.buttons & 1) setFrameFromProfile(e); });
    if (typeof ResizeObserver !== "undefined") {
      this._resize = new ResizeObserver(() => this.render());
      this._resize.observe(this.stage);
    }
  }

  // ---- state in / out ---------------------------------------------------------------------

  /** Re-read the tracks_json widget (after load, a hand edit or an undo outside the editor). */
  reloadFromWidget() {
    const text = this.binding.getText() || "";
    if (text === this._written) return;
    try {
      const size = this.image ? [this.image.naturalWidth, this.image.naturalHeight] : null;
      this.model.load(text, size);
      this.model.ensureTracks(Math.max(1, this.numObjects));
      this.error = "";
    } catch (err) {
      this.error = `tracks_json: ${err.message}`;
    }
    this._written = text;
    this.render();
  }

  /** Write the model to the widget, redraw and refresh the preview. */
  commit() {
    const text = this.model.toJSON();
    this._written = text;
    this.binding.setText(text);
    this.error = "";
    this.host.markDirty();
    this.render();
    this.schedulePreview();
  }

  numFrames() {
    const n = this.binding.getNumFrames ? this.binding.getNumFrames() : null;
    const v = Number.isInteger(n) && n > 0 ? n : parseInt(this.framesInput.value, 10);
    return Number.isInteger(v) && v > 0 ? v : 16;
  }

  _syncFrames() {
    const n = this.numFrames();
    const fromNode = this.binding.getNumFrames && Number.isInteger(this.binding.getNumFrames());
    this.framesInput.disabled = !!fromNode;
    if (fromNode) this.framesInput.value = String(n);
    this.frameInput.max = String(n - 1);
    if (this.frame > n - 1) this.setFrame(n - 1, false);
  }

  setFrame(f, preview = true) {
    const n = this.numFrames();
    this.frame = Math.max(0, Math.min(n - 1, f | 0));
    this.frameInput.value = String(this.frame);
    this.frameLabel.textContent = `frame ${this.frame}`;
    this.render();
    if (preview) this.schedulePreview(0);
  }

  // ---- images -----------------------------------------------------------------------------

  _imageSize() {
    if (this.image) return [this.image.naturalWidth, this.image.naturalHeight];
    return this.model.imageSize;
  }

  _adoptImageSize() {
    const size = [this.image.naturalWidth, this.image.naturalHeight];
    const old = this.model.imageSize;
    const hasPoints = this.model.tracks.some((t) => t.points.length);
    this.model.setImageSize(size);
    if (hasPoints && (!old || old[0] !== size[0] || old[1] !== size[1])) this.commit();
  }

  /** Show an image reference ({filename, subfolder, type}) as the background. */
  async setBackground(ref) {
    this.image = await loadImage(this.host.viewURL(ref));
    this._adoptImageSize();
    this.render();
  }

  async upload(file) {
    try {
      this.status.textContent = "uploading…";
      const ref = await uploadImage(this.host, file);
      if (this.binding.properties) this.binding.properties.levitor_image = ref;
      this.depth8 = null;
      this.labels = null;
      this.tint = null;
      this.numObjects = 0;
      await this.setBackground(ref);
    } catch (err) {
      this.error = err.message;
      this.render();
    }
  }

  /** Data sent by the node after a run: message.levitor_scene[0]. */
  async onExecuted(message) {
    const scene = message && message.levitor_scene && message.levitor_scene[0];
    if (!scene) return;
    try {
      const [img, d8, lab] = await Promise.all([
        loadImage(this.host.viewURL(scene.image)),
        scene.depth8 ? loadImage(this.host.viewURL(scene.depth8)) : null,
        scene.labels ? loadImage(this.host.viewURL(scene.labels)) : null,
      ]);
      this.image = img;
      this.depth8 = d8 ? imageToRaster(d8) : null;
      this.labels = lab ? imageToRaster(lab) : null;
      this.numObjects = scene.num_objects | 0;
      // The server's id of the node (inside a subgraph it differs from the node's local id).
      this.sceneNodeId = scene.node_id !== undefined && scene.node_id !== null ? String(scene.node_id) : null;
      this.tint = null;
      if (this.binding.properties) this.binding.properties.levitor_image = scene.image;
      this.model.ensureTracks(Math.max(1, this.numObjects));
      this._adoptImageSize();
      this.error = "";
    } catch (err) {
      this.error = err.message;
    }
    this.render();
    this.schedulePreview(0);
  }

  // ---- live preview -----------------------------------------------------------------------

  schedulePreview(delay = 250) {
    if (!this.previewToggle.checked) return;
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this._fetchPreview(), delay);
  }

  async _fetchPreview() {
    const seq = ++this.previewSeq;
    let tracks;
    try {
      tracks = JSON.parse(this.model.toJSON());
    } catch (err) {
      return;
    }
    if (!tracks.tracks.length) {
      this.previewImg = null;
      this.render();
      return;
    }
    const body = { node_id: this.sceneNodeId || String(this.binding.nodeId), tracks, num_frames: this.numFrames(), frame: this.frame };
    try {
      const res = await this.host.fetch("/levitor/preview", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (seq !== this.previewSeq) return;
      if (!res.ok) {
        let msg = `HTTP ${res.status}`;
        try { const j = await res.json(); msg = j.error || msg; } catch (e) { /* not JSON */ }
        throw new Error(`preview: ${msg}`);
      }
      const url = URL.createObjectURL(await res.blob());
      const img = await loadImage(url);
      URL.revokeObjectURL(url);
      if (seq !== this.previewSeq) return;
      this.previewImg = img;
      this.error = "";
    } catch (err) {
      if (seq !== this.previewSeq) return;
      this.previewImg = null;
      this.error = err.message;
    }
    this.render();
  }

  // ---- pointer ----------------------------------------------------------------------------

  _transform() {
    const size = this._imageSize();
    if (!size) return null;
    return fitTransform(size[0], size[1], ...canvasSize(this.canvas), 4);
  }

  _eventImage(e) {
    const t = this._transform();
    if (!t) return null;
    const [cx, cy] = eventToCanvas(e.clientX, e.clientY, this.canvas.getBoundingClientRect(), ...canvasSize(this.canvas));
    const [x, y] = canvasToImage(t, cx, cy);
    return { t, x, y };
  }

  _sceneDepth(x, y) {
    const s = this._imageSize();
    return s ? sceneDepthAt(this.depth8, x, y, s[0], s[1]) : null;
  }

  _objectAt(x, y) {
    const s = this._imageSize();
    return s ? objectAt(this.labels, x, y, s[0], s[1], this.numObjects) : -1;
  }

  _onDown(e) {
    this.canvas.focus({ preventScroll: true });
    if (e.button !== 0) return;
    const p = this._eventImage(e);
    if (!p) return;
    e.preventDefault();
    e.stopPropagation();
    const m = this.model;
    const hit = hitTestPoint(m.tracks, p.x, p.y, HIT_PX / p.t.scale, m.active);
    if (hit) {
      if (e.altKey) {
        m.deletePoint(hit.track, hit.index);
        this.commit();
        return;
      }
      m.selectPoint(hit.track, hit.index);
      m.checkpoint();
      this.drag = { track: hit.track, index: hit.index, moved: false };
      this.canvas.setPointerCapture(e.pointerId);
      this.render();
      return;
    }
    if (!insideImage(p.t, p.x, p.y)) return;
    const obj = this._objectAt(p.x, p.y);
    if (e.ctrlKey || e.metaKey) {
      if (obj >= 0) {
        m.selectTrack(obj);
        this.render();
      }
      return;
    }
    if (!m.activeTrack.points.length && obj >= 0 && obj !== m.active && !(m.tracks[obj] && m.tracks[obj].points.length)) {
      m.selectTrack(obj);
    }
    const pts = m.activeTrack.points;
    const seg = hitTestSegment(pts, p.x, p.y, SEGMENT_PX / p.t.scale);
    let index;
    if (seg) {
      const a = pts[seg.segment];
      const b = pts[seg.segment + 1];
      index = m.addPoint(p.x, p.y, (a[2] + b[2]) / 2, seg.segment + 1);
    } else {
      const depth = pts.length ? pts[pts.length - 1][2] : this._sceneDepth(p.x, p.y) ?? DEFAULT_DEPTH;
      index = m.addPoint(p.x, p.y, depth);
    }
    this.drag = { track: m.active, index, moved: false, added: true };
    this.canvas.setPointerCapture(e.pointerId);
    this.render();
  }

  _onMove(e) {
    const p = this._eventImage(e);
    if (!p) return;
    if (this.drag) {
      e.preventDefault();
      e.stopPropagation();
      const [x, y] = clampToImage(p.t, p.x, p.y);
      this.model.movePoint(this.drag.track, this.drag.index, x, y, false);
      this.drag.moved = true;
    }
    this.hover = insideImage(p.t, p.x, p.y) ? { x: p.x, y: p.y } : null;
    this.render();
  }

  _onUp(e) {
    if (!this.drag) return;
    const d = this.drag;
    this.drag = null;
    try { this.canvas.releasePointerCapture(e.pointerId); } catch (err) { /* already released */ }
    if (!d.moved && !d.added) {
      // A plain click on a point selects it: drop the checkpoint taken for a drag.
      this.model.discardCheckpoint();
      this.render();
      return;
    }
    this.commit();
  }

  _onContext(e) {
    e.preventDefault();
    e.stopPropagation();
    const p = this._eventImage(e);
    if (!p) return;
    const hit = hitTestPoint(this.model.tracks, p.x, p.y, HIT_PX / p.t.scale, this.model.active);
    if (hit) {
      this.model.deletePoint(hit.track, hit.index);
      this.commit();
    }
  }

  _onWheel(e) {
    const p = this._eventImage(e);
    if (!p) return;
    const m = this.model;
    let target = hitTestPoint(m.tracks, p.x, p.y, HIT_PX / p.t.scale, m.active);
    if (!target && m.selected >= 0 && m.activeTrack.points[m.selected]) target = { track: m.active, index: m.selected };
    if (!target) return;
    e.preventDefault();
    e.stopPropagation();
    const steps = Math.sign(e.deltaY);
    if (!steps) return;
    const now = performance.now();
    const merge = this.lastWheel && this.lastWheel.track === target.track && this.lastWheel.index === target.index && now - this.lastWheel.time < WHEEL_MERGE_MS;
    const cur = m.tracks[target.track].points[target.index][2];
    m.selectPoint(target.track, target.index);
    m.setDepth(target.track, target.index, stepDepth(cur, steps, e.shiftKey ? 1.01 : 1.05), !merge);
    this.lastWheel = { ...target, time: now };
    this.commit();
  }

  _onKey(e) {
    const m = this.model;
    const ctrl = e.ctrlKey || e.metaKey;
    let handled = true;
    if (e.key === "Delete" || e.key === "Backspace") this.deleteSelected();
    else if (ctrl && e.key.toLowerCase() === "z" && !e.shiftKey) { if (m.undo()) this.commit(); }
    else if (ctrl && (e.key.toLowerCase() === "y" || (e.key.toLowerCase() === "z" && e.shiftKey))) { if (m.redo()) this.commit(); }
    else if (e.key === "ArrowLeft") this.setFrame(this.frame - 1);
    else if (e.key === "ArrowRight") this.setFrame(this.frame + 1);
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  }

  deleteSelected() {
    const m = this.model;
    if (m.selected >= 0 && m.activeTrack.points[m.selected]) {
      m.deletePoint(m.active, m.selected);
      this.commit();
    }
  }

  _depthFromField() {
    const m = this.model;
    const v = parseFloat(this.depthInput.value);
    if (!(m.selected >= 0 && m.activeTrack.points[m.selected]) || !Number.isFinite(v)) return;
    m.setDepth(m.active, m.selected, clampDepth(v));
    this.commit();
  }

  // ---- drawing ----------------------------------------------------------------------------

  _syncControls() {
    const m = this.model;
    m.ensureTracks(Math.max(1, this.numObjects));
    const kind = (i) => (!this.numObjects || i < this.numObjects ? `object ${i + 1}` : i === this.numObjects ? "camera" : `track ${i + 1}`);
    const opts = m.tracks.map((t, i) => `${kind(i)}${t.name ? ` (${t.name})` : ""} · ${t.points.length} pt`);
    if (this.trackSelect.options.length !== opts.length || [...this.trackSelect.options].some((o, i) => o.textContent !== opts[i])) {
      this.trackSelect.replaceChildren(...opts.map((text, i) => el("option", { value: String(i), textContent: text })));
    }
    this.trackSelect.value = String(m.active);
    this.trackSelect.style.borderColor = objectColor(m.active);
    const p = m.selected >= 0 ? m.activeTrack.points[m.selected] : null;
    this.depthInput.disabled = !p;
    if (p && document.activeElement !== this.depthInput) this.depthInput.value = p[2].toFixed(4);
    if (!p) this.depthInput.value = "";
    this._syncFrames();
  }

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

  _draw() {
    this._syncControls();
    const ctx = fitCanvas(this.canvas);
    fitCanvas(this.profile);
    const [cw, ch] = canvasSize(this.canvas);
    ctx.clearRect(0, 0, cw, ch);
    const t = this._transform();
    const m = this.model;
    const n = this.numFrames();
    if (!t) {
      ctx.fillStyle = "#888";
      ctx.font = "13px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("Run the workflow once, or upload / paste / drop an image", cw / 2, ch / 2);
      ctx.textAlign = "start";
      this._drawProfile();
      this._drawStatus(null);
      return;
    }
    const [x0, y0] = imageToCanvas(t, 0, 0);
    const w = t.imageW * t.scale;
    const h = t.imageH * t.scale;
    if (this.image) ctx.drawImage(this.image, x0, y0, w, h);
    else {
      ctx.fillStyle = "#2a2a2a";
      ctx.fillRect(x0, y0, w, h);
    }
    if (this.labels && this.numObjects) {
      if (!this.tint || this._tintFor !== m.active) {
        this.tint = tintLabels(this.labels, this.numObjects, 0.35, m.active);
        this._tintFor = m.active;
      }
      ctx.drawImage(this.tint, x0, y0, w, h);
    }
    if (this.previewImg && this.previewToggle.checked) {
      ctx.globalAlpha = 0.6;
      ctx.drawImage(this.previewImg, x0, y0, w, h);
      ctx.globalAlpha = 1;
    }
    // Tracks: resampled path, clicked points, position at the chosen frame.
    const order = m.tracks.map((_, i) => i).filter((i) => i !== m.active).concat([m.active]);
    for (const ti of order) {
      const track = m.tracks[ti];
      if (!track || !track.points.length) continue;
      const active = ti === m.active;
      const path = m.resampled(ti, Math.max(n, 2) * 4 - 3);
      ctx.strokeStyle = objectColor(ti, active ? 1 : 0.6);
      ctx.lineWidth = active ? 2.5 : 1.5;
      ctx.beginPath();
      path.forEach(([px, py], i) => {
        const [cx, cy] = imageToCanvas(t, px, py);
        if (i) ctx.lineTo(cx, cy);
        else ctx.moveTo(cx, cy);
      });
      ctx.stroke();
      const frames = m.resampled(ti, n);
      const [fx, fy] = imageToCanvas(t, frames[this.frame][0], frames[this.frame][1]);
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      ctx.moveTo(fx, fy - 6); ctx.lineTo(fx + 6, fy); ctx.lineTo(fx, fy + 6); ctx.lineTo(fx - 6, fy); ctx.closePath();
      ctx.fill();
      track.points.forEach((pt, i) => {
        const [cx, cy] = imageToCanvas(t, pt[0], pt[1]);
        const sel = active && i === m.selected;
        ctx.beginPath();
        ctx.arc(cx, cy, sel ? 7 : 5.5, 0, Math.PI * 2);
        ctx.fillStyle = objectColor(ti, 1);
        ctx.fill();
        ctx.lineWidth = sel ? 2.5 : 1;
        ctx.strokeStyle = sel ? "#fff" : "#000";
        ctx.stroke();
        if (active) {
          const sd = this._sceneDepth(pt[0], pt[1]);
          drawLabel(ctx, `${i === 0 ? "start " : ""}${shortDepth(pt[2])}${sd !== null ? ` | scene ${shortDepth(sd)}` : ""}`, cx + 9, cy - 6);
        }
      });
    }
    const gap = this._gapWarning();
    if (gap) drawLabel(ctx, gap, 6, 18, "#ffcc66");
    this._drawProfile();
    this._drawStatus(t);
  }

  _drawProfile() {
    const c = this.profile;
    const ctx = c.getContext("2d");
    const [W, H] = canvasSize(c);
    ctx.clearRect(0, 0, W, H);
    const n = this.numFrames();
    const xOf = (f) => 4 + (f / Math.max(1, n - 1)) * (W - 8);
    ctx.strokeStyle = "#333";
    ctx.lineWidth = 1;
    for (let f = 0; f < n; f++) {
      ctx.beginPath();
      ctx.moveTo(xOf(f), 0);
      ctx.lineTo(xOf(f), H);
      ctx.stroke();
    }
    const m = this.model;
    const track = m.tracks[m.active];
    if (track && track.points.length) {
      const dense = m.resampled(m.active, Math.max(2, (n - 1) * 8 + 1)).map((r) => r[2]);
      const ds = dense.concat(track.points.map((p) => p[2]));
      let lo = Math.min(...ds);
      let hi = Math.max(...ds);
      if (hi - lo < 1e-6) { lo -= 0.05; hi += 0.05; }
      const pad = (hi - lo) * 0.15;
      lo -= pad; hi += pad;
      // Smaller depth = nearer: nearer is drawn higher.
      const yOf = (d) => 6 + ((d - lo) / (hi - lo)) * (H - 12);
      ctx.strokeStyle = objectColor(m.active);
      ctx.lineWidth = 2;
      ctx.beginPath();
      dense.forEach((d, i) => {
        const x = 4 + (i / (dense.length - 1)) * (W - 8);
        if (i) ctx.lineTo(x, yOf(d)); else ctx.moveTo(x, yOf(d));
      });
      ctx.stroke();
      const tk = linspace(0, n - 1, track.points.length);
      track.points.forEach((p, i) => {
        ctx.beginPath();
        ctx.arc(xOf(tk[i]), yOf(p[2]), i === m.selected ? 4.5 : 3, 0, Math.PI * 2);
        ctx.fillStyle = "#fff";
        ctx.fill();
      });
      const fd = m.resampled(m.active, n)[this.frame][2];
      ctx.fillStyle = "#bbb";
      ctx.font = "10px sans-serif";
      ctx.fillText(`near ${(lo + pad).toFixed(3)}`, 6, 11);
      ctx.fillText(`far ${(hi - pad).toFixed(3)}`, 6, H - 3);
      ctx.fillText(`depth @${this.frame}: ${fd.toFixed(4)}`, W - 130, 11);
    }
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(xOf(this.frame), 0);
    ctx.lineTo(xOf(this.frame), H);
    ctx.stroke();
  }

  /** A note when an object before a drawn track has no point yet (the node needs one per object). */
  _gapWarning() {
    const empty = this.model.firstGap();
    return empty >= 0 ? `object ${empty + 1} has no point yet: click once on it (one point = stays in place)` : "";
  }

  _drawStatus(t) {
    if (this.error) {
      this.status.textContent = this.error;
      this.status.classList.add("lv-error");
      return;
    }
    this.status.classList.remove("lv-error");
    if (this.hover && t) {
      const sd = this._sceneDepth(this.hover.x, this.hover.y);
      const obj = this._objectAt(this.hover.x, this.hover.y);
      this.status.textContent = `x ${this.hover.x.toFixed(1)}  y ${this.hover.y.toFixed(1)}  scene depth ${fmt(sd)}${obj >= 0 ? `  object ${obj + 1}` : ""}`;
    } else if (this._gapWarning()) {
      this.status.textContent = this._gapWarning();
    } else {
      this.status.textContent = "click: add · drag: move · wheel: depth · right click / Del: delete · Ctrl+click object: pick track · Ctrl+Z: undo";
    }
  }
}
