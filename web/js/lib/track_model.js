// Editable state of the trajectory editor: one track per object, a selection and undo history.
// Everything the canvas does goes through these methods, so it can be tested without a browser.

import { parseTracks, tracksToJson, rescaleTracks, fitTracks } from "./tracks_json.js";
import { clampDepth } from "./depth.js";
import { resampleTrack, trackPositions, isTimed, linspace } from "./pchip.js";
import { EASINGS, MAX_KEYFRAME } from "./tracks_json.js";

const MAX_UNDO = 200;

function cloneTracks(tracks) {
  return tracks.map((t) => ({ ...t, points: t.points.map((p) => p.slice()) }));
}

export class TrackModel {
  constructor() {
    /**
     * Points are [x, y, depth] or [x, y, depth, frame] (a keyframe: the frame the point is
     * reached at); `easing` is left out when linear.
     * @type {{name?: string, easing?: string, points: number[][]}[]}
     */
    this.tracks = [];
    /** [width, height] of the image the points are drawn on, or null. */
    this.imageSize = null;
    this.active = 0;
    /** Selected point index on the active track, or -1. */
    this.selected = -1;
    this._undo = [];
    this._redo = [];
  }

  // ---- history ----------------------------------------------------------------------------

  _snapshot() {
    return { tracks: cloneTracks(this.tracks), active: this.active, selected: this.selected };
  }

  /** Record the current state so the next change can be undone. */
  checkpoint() {
    this._undo.push(this._snapshot());
    if (this._undo.length > MAX_UNDO) this._undo.shift();
    this._redo = [];
  }

  /** Drop the last checkpoint (a drag that did not move anything). */
  discardCheckpoint() {
    this._undo.pop();
  }

  get canUndo() {
    return this._undo.length > 0;
  }

  get canRedo() {
    return this._redo.length > 0;
  }

  /** Undo the last change; returns false when there is nothing to undo. */
  undo() {
    if (!this._undo.length) return false;
    this._redo.push(this._snapshot());
    this._restore(this._undo.pop());
    return true;
  }

  redo() {
    if (!this._redo.length) return false;
    this._undo.push(this._snapshot());
    this._restore(this._redo.pop());
    return true;
  }

  _restore(s) {
    this.tracks = s.tracks;
    this.active = Math.min(s.active, Math.max(0, this.tracks.length - 1));
    this.selected = s.selected;
    this._fixSelection();
  }

  _fixSelection() {
    const t = this.tracks[this.active];
    if (!t || this.selected >= t.points.length) this.selected = t && t.points.length ? t.points.length - 1 : -1;
  }

  // ---- tracks -----------------------------------------------------------------------------

  /** Make sure there are at least `n` tracks (one per object); never removes tracks. */
  ensureTracks(n) {
    while (this.tracks.length < n) this.tracks.push({ points: [] });
  }

  /** Append an empty track and make it active (undoable). Returns its index. */
  addTrack() {
    this.checkpoint();
    this.tracks.push({ points: [] });
    this.active = this.tracks.length - 1;
    this.selected = -1;
    return this.active;
  }

  selectTrack(i) {
    if (!Number.isInteger(i) || i < 0) throw new Error(`track index must be a non-negative integer, got ${i}`);
    this.ensureTracks(i + 1);
    if (this.active !== i) {
      this.active = i;
      this.selected = this.tracks[i].points.length - 1;
    }
  }

  get activeTrack() {
    this.ensureTracks(this.active + 1);
    return this.tracks[this.active];
  }

  selectPoint(track, index) {
    this.selectTrack(track);
    this.selected = index;
  }

  /**
   * Index of the first track left empty before a track that has points, or -1. The node needs
   * a point for every object up to the last drawn track (one point = stays in place).
   */
  firstGap() {
    let last = this.tracks.length - 1;
    while (last >= 0 && !this.tracks[last].points.length) last--;
    for (let i = 0; i < last; i++) if (!this.tracks[i].points.length) return i;
    return -1;
  }

  // ---- points -----------------------------------------------------------------------------

  /**
   * Add a point to the active track (undoable). Appended, or inserted at `at`.
   * Returns the new point's index.
   */
  addPoint(x, y, depth, at = -1) {
    this.checkpoint();
    const pts = this.activeTrack.points;
    const p = [x, y, clampDepth(depth)];
    const index = at < 0 || at > pts.length ? pts.length : at;
    pts.splice(index, 0, p);
    this.selected = index;
    return index;
  }

  _point(track, index) {
    const t = this.tracks[track];
    if (!t || index < 0 || index >= t.points.length) throw new Error(`no point ${index} on track ${track}`);
    return t.points[index];
  }

  /** Move a point. Pass `record = false` while dragging (the drag start records one checkpoint). */
  movePoint(track, index, x, y, record = true) {
    const p = this._point(track, index);
    if (record) this.checkpoint();
    p[0] = x;
    p[1] = y;
  }

  /** Set a point's depth (clamped to (0, 1]); `record = false` merges wheel steps into one undo step. */
  setDepth(track, index, depth, record = true) {
    const p = this._point(track, index);
    if (record) this.checkpoint();
    p[2] = clampDepth(depth);
  }

  /**
   * Set the frame a point is reached at (a keyframe), or clear it with null. Keyframes must
   * increase along the track: a frame that does not is refused with an Error naming the
   * neighbour, before anything changes.
   */
  setFrame(track, index, frame, record = true) {
    const p = this._point(track, index);
    if (frame !== null && !(Number.isInteger(frame) && frame >= 0 && frame <= MAX_KEYFRAME)) {
      throw new Error(`a frame must be a whole number in [0, ${MAX_KEYFRAME}], got ${frame}`);
    }
    if (frame !== null) {
      const pts = this.tracks[track].points;
      for (let j = index - 1; j >= 0; j--) {
        if (pts[j].length > 3) {
          if (pts[j][3] >= frame) throw new Error(`point ${j} is already at frame ${pts[j][3]}; point ${index} must come later`);
          break;
        }
      }
      for (let j = index + 1; j < pts.length; j++) {
        if (pts[j].length > 3) {
          if (pts[j][3] <= frame) throw new Error(`point ${j} is at frame ${pts[j][3]}; point ${index} must come earlier`);
          break;
        }
      }
    }
    if (record) this.checkpoint();
    if (frame === null) p.length = 3;
    else p[3] = frame;
  }

  /** The frame a point is keyed at, or null. */
  frameOf(track, index) {
    const p = this._point(track, index);
    return p.length > 3 ? p[3] : null;
  }

  /** Set a track's easing (undoable): one of linear, ease-in, ease-out, ease-in-out. */
  setEasing(track, easing) {
    if (!EASINGS.includes(easing)) throw new Error(`easing must be one of ${EASINGS.join(", ")}, got ${easing}`);
    this.ensureTracks(track + 1);
    const t = this.tracks[track];
    if ((t.easing || "linear") === easing) return;
    this.checkpoint();
    if (easing === "linear") delete t.easing;
    else t.easing = easing;
  }

  deletePoint(track, index) {
    this._point(track, index);
    this.checkpoint();
    this.tracks[track].points.splice(index, 1);
    if (track === this.active) {
      const n = this.tracks[track].points.length;
      this.selected = n ? Math.min(index, n - 1) : -1;
    }
  }

  /** Remove every point of one track (undoable). */
  clearTrack(track = this.active) {
    if (!this.tracks[track] || !this.tracks[track].points.length) return;
    this.checkpoint();
    this.tracks[track].points = [];
    if (track === this.active) this.selected = -1;
  }

  /** Remove every point of every track (undoable); the tracks themselves stay. */
  clearAll() {
    if (!this.tracks.some((t) => t.points.length)) return;
    this.checkpoint();
    this.tracks.forEach((t) => (t.points = []));
    this.selected = -1;
  }

  // ---- JSON -------------------------------------------------------------------------------

  /**
   * Replace the state with tracks JSON text (not undoable: this is loading).
   * Points are rescaled when the JSON was drawn on an image of another size than `imageSize`.
   */
  load(text, imageSize = null) {
    const doc = parseTracks(text);
    const target = imageSize || doc.imageSize;
    this.tracks = fitTracks(doc, target);
    this.imageSize = target ? target.slice() : null;
    this.active = Math.min(this.active, Math.max(0, this.tracks.length - 1));
    this.selected = -1;
    this._fixSelection();
    this._undo = [];
    this._redo = [];
  }

  /** Rescale the points to a new image size (for a new background image). */
  setImageSize(size) {
    if (this.imageSize && size) this.tracks = rescaleTracks(this.tracks, this.imageSize, size);
    this.imageSize = size ? size.slice() : null;
  }

  /**
   * Versioned tracks JSON. Empty tracks after the last non-empty one are left out; empty
   * tracks before it stay (track k moves object k), written as single points would be wrong.
   */
  toJSON() {
    let last = this.tracks.length - 1;
    while (last >= 0 && !this.tracks[last].points.length) last--;
    return tracksToJson({ imageSize: this.imageSize, tracks: this.tracks.slice(0, last + 1) });
  }

  /** Resampled (numFrames, 3) path of a track (with its timing), or null when it has no points. */
  resampled(track, numFrames) {
    const t = this.tracks[track];
    if (!t || !t.points.length) return null;
    return resampleTrack(t.points, numFrames, { easing: t.easing || "linear", where: `track ${track}` });
  }

  /**
   * `samples` positions evenly spread over frames 0 .. numFrames - 1 (the drawn curve), or null
   * when the track has no points. Timed tracks are drawn through their easing and keyframes.
   */
  curve(track, numFrames, samples) {
    const t = this.tracks[track];
    if (!t || !t.points.length) return null;
    if (!isTimed(t.points, t.easing)) return resampleTrack(t.points, samples);
    return trackPositions(t.points, linspace(0, numFrames - 1, samples), numFrames, t.easing || "linear", `track ${track}`);
  }
}
