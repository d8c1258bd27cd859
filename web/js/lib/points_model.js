// Editable state of the SAM point picker: positive / negative clicks with undo.

import { parsePoints, pointsToJson, rescaleTracks } from "./tracks_json.js";

export class PointsModel {
  constructor() {
    /** @type {{x: number, y: number, label: number}[]} */
    this.points = [];
    this.imageSize = null;
    this._undo = [];
  }

  _checkpoint() {
    this._undo.push(this.points.map((p) => ({ ...p })));
    if (this._undo.length > 200) this._undo.shift();
  }

  /** Add a point; label 1 = positive (object), 0 = negative (background). */
  add(x, y, label) {
    if (label !== 0 && label !== 1) throw new Error(`label must be 1 (positive) or 0 (negative), got ${label}`);
    this._checkpoint();
    this.points.push({ x, y, label });
  }

  /** Index of the point nearest (x, y) within radius, or -1. */
  hit(x, y, radius) {
    let best = -1;
    let bestD = Infinity;
    this.points.forEach((p, i) => {
      const d = Math.hypot(p.x - x, p.y - y);
      if (d <= radius && d < bestD) {
        best = i;
        bestD = d;
      }
    });
    return best;
  }

  remove(index) {
    if (index < 0 || index >= this.points.length) throw new Error(`no point ${index}`);
    this._checkpoint();
    this.points.splice(index, 1);
  }

  clear() {
    if (!this.points.length) return;
    this._checkpoint();
    this.points = [];
  }

  get canUndo() {
    return this._undo.length > 0;
  }

  undo() {
    if (!this._undo.length) return false;
    this.points = this._undo.pop();
    return true;
  }

  load(text, imageSize = null) {
    const doc = parsePoints(text);
    const target = imageSize || doc.imageSize;
    if (doc.imageSize && target) {
      const [t] = rescaleTracks([{ points: doc.points.map((p) => [p.x, p.y, p.label]) }], doc.imageSize, target);
      this.points = t.points.map(([x, y, label]) => ({ x, y, label }));
    } else {
      this.points = doc.points;
    }
    this.imageSize = target ? target.slice() : null;
    this._undo = [];
  }

  setImageSize(size) {
    if (this.imageSize && size && (this.imageSize[0] !== size[0] || this.imageSize[1] !== size[1])) {
      const sx = size[0] / this.imageSize[0];
      const sy = size[1] / this.imageSize[1];
      this.points = this.points.map((p) => ({ ...p, x: p.x * sx, y: p.y * sy }));
    }
    this.imageSize = size ? size.slice() : null;
  }

  toJSON() {
    return pointsToJson({ imageSize: this.imageSize, points: this.points });
  }
}
