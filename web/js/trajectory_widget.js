// In-canvas 3D trajectory editor for LeviTorTrajectory3DEditor.
// The state lives in the node's `tracks_json` STRING widget; this DOM widget only edits it.

import { TrackModel } from "./lib/track_model.js";
import { imageToCanvas, insideImage, clampToImage, hitTestPoint, hitTestSegment } from "./lib/geometry.js";
import { sceneDepthAt, objectAt, stepDepth, relativeDepth } from "./lib/depth.js";
import { keyframeTimes, pointFrame } from "./lib/pchip.js";
import { EASINGS } from "./lib/tracks_json.js";
import { LIMITS } from "./lib/contract.js";
import { el, loadImage, imageToRaster, tintLabels, objectColor } from "./ui_common.js";
import { CanvasEditor, fitCanvas, canvasSize } from "./canvas_editor.js";

const HIT_PX = 9; // canvas pixels
const SEGMENT_PX = 6;
const DEFAULT_DEPTH = 0.5;
const WHEEL_MERGE_MS = 700;
const POINT_R = 5.5;
const SELECTED_R = 7;

function fmt(d) {
  return d === null || d === undefined ? "–" : d.toFixed(4);
}

/**
 * The trajectory editor. `binding` connects it to the node:
 *   getText() / setText(text): the tracks_json widget value,
 *   nodeId: string for the preview route,
 *   getNumFrames(): number | null (num_frames of the node or of the render node it feeds),
 *   properties: an object saved with the workflow (for the uploaded background).
 * `host`: { viewURL(ref), fetch(path, init), markDirty() }.
 */
export class TrajectoryEditor extends CanvasEditor {
  constructor(host, binding) {
    super(host, binding, "tracks_json");
    this.model = new TrackModel();
    this.depth8 = null; // GreyRaster
    this.labels = null; // GreyRaster
    this.numObjects = 0;
    this.tint = null;
    this.previewImg = null;
    this.previewImgMode = "masks";
    this.previewSeq = 0;
    this.previewTimer = null;
    this.drag = null;
    this.lastWheel = null;
    this.frame = 0;
    this.sceneNodeId = null;
    this.trackSelect = el("select", { title: "Track to edit (track k moves object k)", onchange: () => { this.model.selectTrack(+this.trackSelect.value); this.render(); } });
    this.depthInput = el("input", { type: "number", step: "0.0001", min: String(LIMITS.TRACK_DEPTH.min), max: String(LIMITS.TRACK_DEPTH.max), title: "Depth of the selected point (reference units, smaller = nearer)", onchange: () => this._depthFromField() });
    this.keyInput = el("input", { type: "number", step: "1", min: "0", placeholder: "auto", title: "Frame the selected point is reached at (a keyframe); empty = spread evenly between keyframes", onchange: () => this._frameFromField() });
    this.easingSelect = el("select", { title: "Easing of this track's motion between keyframes", onchange: () => this._easingFromField() },
      ...EASINGS.map((e) => el("option", { value: e, textContent: e.replace(/-/g, " ") })));
    this.profile = el("canvas", { class: "lv-profile", title: "Depth over the frames: click to choose the preview frame, drag a point's mark to set the frame it is reached at" });
    this.frameInput = el("input", { type: "range", min: "0", max: "15", value: "0", title: "Frame shown by the preview", oninput: () => this.setFrame(+this.frameInput.value) });
    this.frameLabel = el("span", { textContent: "frame 0" });
    this.framesInput = el("input", { type: "number", min: String(LIMITS.NUM_FRAMES.min), max: String(LIMITS.NUM_FRAMES.max), value: "16", title: "Number of frames (when no connected node has num_frames)", onchange: () => { this._syncFrames(); this.render(); this.schedulePreview(); } });
    this.previewToggle = el("input", { type: "checkbox", title: "Render the moved masks live on the server", onchange: () => { if (this.previewToggle.checked) this.schedulePreview(0); else { this.previewImg = null; this.render(); } } });
    // What the live preview shows: the moved masks over the image, or (warped) the warped frame,
    // the start image with the objects moved, occlusion and perspective included. Ticking it turns
    // the preview on. It sits at the end of the toolbar, which has room for it: in the frame bar it
    // would wrap that bar onto a second line as the frame number grows.
    this.warpToggle = el("input", { type: "checkbox", class: "lv-warped", title: "Show the start image with the objects moved (the warped frame) instead of the masks", onchange: () => { if (this.warpToggle.checked) this.previewToggle.checked = true; this.previewImg = null; this.schedulePreview(0); this.render(); } });
    this.scrub = el("div", { class: "lv-bar" }, el("span", { textContent: "frames" }), this.framesInput, this.frameInput, this.frameLabel,
      el("label", { title: "Render the moved masks live on the server" }, this.previewToggle, " preview"));
    this.build([
      this.trackSelect,
      this.button("+ Track", "Add a track", () => { this.model.addTrack(); this.commit(); }),
      el("span", { textContent: "depth" }), this.depthInput,
      el("label", { title: "Frame the selected point is reached at (a keyframe)" }, "at frame ", this.keyInput),
      this.easingSelect,
      this.button("Delete", "Delete the selected point (Del / right click)", () => this.deleteSelected()),
      this.button("Undo", "Undo (Ctrl+Z)", () => { if (this.model.undo()) this.commit(); }),
      this.button("Clear", "Remove every point of this track", () => { this.model.clearTrack(); this.commit(); }),
      this.button("Clear all", "Remove every point of every track", () => { this.model.clearAll(); this.commit(); }),
      ...this.imageButton(),
      el("label", { title: "Show the start image with the objects moved (the warped frame) instead of the masks" }, this.warpToggle, " warped")],
    [this.profile, this.scrub]);
    const setFrameFromProfile = (e) => {
      const r = this.profile.getBoundingClientRect();
      const n = this.numFrames();
      this.setFrame(Math.round(((e.clientX - r.left) / Math.max(1, r.width)) * (n - 1)));
    };
    // On the depth strip a point's mark can be dragged in time: it becomes a keyframe.
    const profileAt = (e) => {
      const r = this.profile.getBoundingClientRect();
      const [W, H] = canvasSize(this.profile);
      return [((e.clientX - r.left) / Math.max(1, r.width)) * W, ((e.clientY - r.top) / Math.max(1, r.height)) * H];
    };
    this.profile.addEventListener("pointerdown", (e) => {
      this.profile.setPointerCapture(e.pointerId);
      const [x, y] = profileAt(e);
      const hit = (this.profileMarks || []).find((mk) => Math.hypot(mk.x - x, mk.y - y) <= 7);
      this.keyDrag = hit ? { index: hit.index, moved: false } : null;
      if (hit) {
        this.model.selectPoint(this.model.active, hit.index);
        this.render();
      } else setFrameFromProfile(e);
    });
    this.profile.addEventListener("pointermove", (e) => {
      if (!(e.buttons & 1)) return;
      if (!this.keyDrag) return setFrameFromProfile(e);
      const [W] = canvasSize(this.profile);
      const n = this.numFrames();
      const f = Math.max(0, Math.min(n - 1, Math.round(((profileAt(e)[0] - 4) / Math.max(1, W - 8)) * (n - 1))));
      const m = this.model;
      if (m.frameOf(m.active, this.keyDrag.index) === f) return;
      try {
        m.setFrame(m.active, this.keyDrag.index, f, !this.keyDrag.moved);
        this.keyDrag.moved = true;
        this.commit();
      } catch (err) {
        // Past a neighbouring keyframe: the mark stops there.
      }
    });
    this.profile.addEventListener("pointerup", () => { this.keyDrag = null; });
    this.restore();
  }

  // ---- state in / out ---------------------------------------------------------------------

  afterLoad() {
    this.model.ensureTracks(Math.max(1, this.numObjects));
  }

  afterCommit() {
    this.schedulePreview();
  }

  hasPoints() {
    return this.model.tracks.some((t) => t.points.length);
  }

  clearScene() {
    this.depth8 = null;
    this.labels = null;
    this.tint = null;
    this.numObjects = 0;
  }

  numFrames() {
    const n = this.binding.getNumFrames ? this.binding.getNumFrames() : null;
    const v = Number.isInteger(n) && n > 0 ? n : parseInt(this.framesInput.value, 10);
    return Number.isInteger(v) && v > 0 ? v : 16;
  }

  watch() {
    return String(this.numFrames());
  }

  _syncFrames() {
    const n = this.numFrames();
    const fromNode = this.binding.getNumFrames && Number.isInteger(this.binding.getNumFrames());
    this.framesInput.disabled = !!fromNode;
    this.framesInput.title = fromNode ? "Number of frames (from the connected node's num_frames)" : "Number of frames (when no connected node has num_frames)";
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
      this.adoptImageSize();
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
    const mode = this.warpToggle.checked ? "warped" : "masks";
    const body = { node_id: this.sceneNodeId || String(this.binding.nodeId), tracks, num_frames: this.numFrames(), frame: this.frame, mode };
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
      this.previewImgMode = mode;
      this.error = "";
    } catch (err) {
      if (seq !== this.previewSeq) return;
      this.previewImg = null;
      this.error = err.message;
    }
    this.render();
  }

  // ---- pointer ----------------------------------------------------------------------------

  _sceneDepth(x, y) {
    const s = this.imageSize();
    return s ? sceneDepthAt(this.depth8, x, y, s[0], s[1]) : null;
  }

  _objectAt(x, y) {
    const s = this.imageSize();
    return s ? objectAt(this.labels, x, y, s[0], s[1], this.numObjects) : -1;
  }

  onPointerDown(e) {
    if (e.button !== 0) return;
    const p = this.eventImage(e);
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

  onPointerMove(e) {
    const p = this.eventImage(e);
    if (!p) return;
    if (this.drag) {
      e.preventDefault();
      e.stopPropagation();
      const [x, y] = clampToImage(p.t, p.x, p.y);
      this.model.movePoint(this.drag.track, this.drag.index, x, y, false);
      this.drag.moved = true;
    }
    this.hover = insideImage(p.t, p.x, p.y) ? { x: p.x, y: p.y, point: hitTestPoint(this.model.tracks, p.x, p.y, HIT_PX / p.t.scale, this.model.active) } : null;
    this.render();
  }

  onPointerUp(e) {
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

  onContextMenu(e) {
    const p = this.eventImage(e);
    if (!p) return;
    const hit = hitTestPoint(this.model.tracks, p.x, p.y, HIT_PX / p.t.scale, this.model.active);
    if (hit) {
      this.model.deletePoint(hit.track, hit.index);
      this.commit();
    }
  }

  onWheel(e) {
    const p = this.eventImage(e);
    if (!p) return false;
    const m = this.model;
    let target = hitTestPoint(m.tracks, p.x, p.y, HIT_PX / p.t.scale, m.active);
    if (!target && m.selected >= 0 && m.activeTrack.points[m.selected]) target = { track: m.active, index: m.selected };
    if (!target) return false;
    const steps = Math.sign(e.deltaY);
    if (!steps) return true;
    const now = performance.now();
    const merge = this.lastWheel && this.lastWheel.track === target.track && this.lastWheel.index === target.index && now - this.lastWheel.time < WHEEL_MERGE_MS;
    const cur = m.tracks[target.track].points[target.index][2];
    m.selectPoint(target.track, target.index);
    m.setDepth(target.track, target.index, stepDepth(cur, steps, e.shiftKey ? 1.01 : 1.05), !merge);
    this.lastWheel = { ...target, time: now };
    this.commit();
    return true;
  }

  onKey(e) {
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
    const range = LIMITS.TRACK_DEPTH;
    if (!(v >= range.min && v <= range.max)) {
      // As the node: an out-of-range depth is an error, never rewritten.
      this.error = `depth ${v} is outside ${range.describe} (${range.meaning})`;
      this.render();
      return;
    }
    m.setDepth(m.active, m.selected, v);
    this.commit();
  }

  _frameFromField() {
    const m = this.model;
    if (!(m.selected >= 0 && m.activeTrack.points[m.selected])) return;
    const text = this.keyInput.value.trim();
    const f = text === "" ? null : Number(text);
    const n = this.numFrames();
    try {
      if (f !== null && !(Number.isInteger(f) && f >= 0 && f < n)) throw new Error(`a frame must be a whole number from 0 to ${n - 1} (the last frame)`);
      m.setFrame(m.active, m.selected, f);
      this.commit();
    } catch (err) {
      this.error = `frame: ${err.message}`;
      this.render();
    }
  }

  _easingFromField() {
    this.model.setEasing(this.model.active, this.easingSelect.value);
    this.commit();
  }

  /** The active track's curve, or null with `this.timingError` set when its timing does not fit the frames. */
  _timed(fn) {
    try {
      return fn();
    } catch (err) {
      this.timingError = err.message;
      return null;
    }
  }

  // ---- drawing ----------------------------------------------------------------------------

  beforeDraw() {
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
    this.keyInput.disabled = !p;
    this.keyInput.max = String(this.numFrames() - 1);
    if (document.activeElement !== this.keyInput) this.keyInput.value = p && pointFrame(p) !== null ? String(pointFrame(p)) : "";
    this.easingSelect.value = m.activeTrack.easing || "linear";
    this.timingError = "";
    this._syncFrames();
  }

  /** Words for point i of track ti's depth, longest first: relative to the track's first point. */
  depthWords(ti, i) {
    const pts = this.model.tracks[ti].points;
    if (i === 0) return ["start", "start"];
    const { text } = relativeDepth(pts[i][2], pts[0][2]);
    return [text, text.split(" ")[0]];
  }

  /** The raw numbers behind a point's words (status line and tooltip on hover). */
  rawDepthText(ti, i) {
    const pts = this.model.tracks[ti].points;
    const pt = pts[i];
    const sd = this._sceneDepth(pt[0], pt[1]);
    const rel = i === 0 ? "start" : `${this.depthWords(ti, i)[0]} than start ${fmt(pts[0][2])}`;
    return `point ${i + 1}: depth ${fmt(pt[2])} (${rel})${sd !== null ? ` · scene ${fmt(sd)}` : ""}`;
  }

  drawScene(ctx, t, area) {
    const m = this.model;
    const n = this.numFrames();
    if (this.labels && this.numObjects) {
      if (!this.tint || this._tintFor !== m.active) {
        this.tint = tintLabels(this.labels, this.numObjects, 0.35, m.active);
        this._tintFor = m.active;
      }
      ctx.drawImage(this.tint, area.x0, area.y0, area.w, area.h);
    }
    if (this.previewImg && this.previewToggle.checked) {
      ctx.globalAlpha = this.previewImgMode === "warped" ? 1 : 0.6; // the warped frame replaces the image
      ctx.drawImage(this.previewImg, area.x0, area.y0, area.w, area.h);
      ctx.globalAlpha = 1;
    }
    const gap = this._gapWarning();
    if (gap) this.drawNote(ctx, gap);
    // Tracks: resampled path, clicked points, position at the chosen frame.
    const order = m.tracks.map((_, i) => i).filter((i) => i !== m.active).concat([m.active]);
    for (const ti of order) {
      const track = m.tracks[ti];
      if (!track || !track.points.length) continue;
      const active = ti === m.active;
      const path = this._timed(() => m.curve(ti, n, Math.max(n, 2) * 4 - 3));
      const frames = path && this._timed(() => m.resampled(ti, n));
      if (path && frames) {
        ctx.strokeStyle = objectColor(ti, active ? 1 : 0.6);
        ctx.lineWidth = active ? 2.5 : 1.5;
        ctx.beginPath();
        path.forEach(([px, py], i) => {
          const [cx, cy] = imageToCanvas(t, px, py);
          if (i) ctx.lineTo(cx, cy);
          else ctx.moveTo(cx, cy);
        });
        ctx.stroke();
        const [fx, fy] = imageToCanvas(t, frames[this.frame][0], frames[this.frame][1]);
        ctx.fillStyle = "#fff";
        ctx.beginPath();
        ctx.moveTo(fx, fy - 6); ctx.lineTo(fx + 6, fy); ctx.lineTo(fx, fy + 6); ctx.lineTo(fx - 6, fy); ctx.closePath();
        ctx.fill();
        this.addObstacle(fx - 6, fy - 6, 12, 12);
      }
      track.points.forEach((pt, i) => {
        const [cx, cy] = imageToCanvas(t, pt[0], pt[1]);
        const sel = active && i === m.selected;
        const r = sel ? SELECTED_R : POINT_R;
        ctx.beginPath();
        ctx.arc(cx, cy, r, 0, Math.PI * 2);
        ctx.fillStyle = objectColor(ti, 1);
        ctx.fill();
        ctx.lineWidth = sel ? 2.5 : 1;
        ctx.strokeStyle = sel ? "#fff" : "#000";
        ctx.stroke();
        this.addObstacle(cx - r, cy - r, 2 * r, 2 * r);
        if (active) this.addLabel(`point ${i}`, cx, cy, r, this.depthWords(ti, i), "#fff", sel ? 2 : i === 0 ? 1 : 0);
      });
    }
  }

  afterDraw() {
    this._drawProfile();
    const h = this.hover && this.hover.point;
    this.canvas.title = h && h.track === this.model.active ? this.rawDepthText(h.track, h.index) : "";
  }

  _drawProfile() {
    const c = this.profile;
    const ctx = fitCanvas(c);
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
    const curve = track && track.points.length ? this._timed(() => m.curve(m.active, n, Math.max(2, (n - 1) * 8 + 1))) : null;
    this.profileMarks = [];
    if (curve) {
      const dense = curve.map((r) => r[2]);
      const ds = dense.concat(track.points.map((p) => p[2]));
      let lo = Math.min(...ds);
      let hi = Math.max(...ds);
      if (hi - lo < 1e-6) { lo -= 0.05 * lo; hi += 0.05 * hi; }
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
      // Each point where the track reaches it; a keyframe is a square.
      const tk = keyframeTimes(track.points.map(pointFrame), n).knots;
      this.profileMarks = track.points.map((p, i) => ({ index: i, x: xOf(tk[i]), y: yOf(p[2]) }));
      track.points.forEach((p, i) => {
        const r = i === m.selected ? 4.5 : 3;
        ctx.beginPath();
        if (pointFrame(p) !== null) ctx.rect(xOf(tk[i]) - r, yOf(p[2]) - r, 2 * r, 2 * r);
        else ctx.arc(xOf(tk[i]), yOf(p[2]), r, 0, Math.PI * 2);
        ctx.fillStyle = "#fff";
        ctx.fill();
      });
      const fd = m.resampled(m.active, n)[this.frame][2];
      ctx.fillStyle = "#bbb";
      ctx.font = "10px sans-serif";
      ctx.fillText("nearer", 6, 11);
      ctx.fillText("farther", 6, H - 3);
      const right = `frame ${this.frame}: ${relativeDepth(fd, track.points[0][2]).text}`;
      ctx.fillText(right, Math.max(50, W - 6 - ctx.measureText(right).width), 11);
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

  statusText(t) {
    if (this.hover && t) {
      const h = this.hover.point;
      if (h && h.track === this.model.active) return this.rawDepthText(h.track, h.index);
      const sd = this._sceneDepth(this.hover.x, this.hover.y);
      const obj = this._objectAt(this.hover.x, this.hover.y);
      return `x ${this.hover.x.toFixed(1)}  y ${this.hover.y.toFixed(1)}  scene depth ${fmt(sd)}${obj >= 0 ? `  object ${obj + 1}` : ""}`;
    }
    if (this.timingError) return `timing: ${this.timingError}`;
    return this._gapWarning() || "click: add · drag: move · wheel: depth · right click / Del: delete · Ctrl+click object: pick track · Ctrl+Z: undo";
  }
}
