// Editable state of the SAM point picker: positive / negative clicks per object, with undo.

import { parsePoints, pointsToJson } from "./tracks_json.js";

function cloneObjects(objects) {
  return objects.map((o) => ({ points: o.points.map((p) => ({ ...p })) }));
}

export class PointsModel {
  constructor() {
    /** @type {{points: {x: number, y: number, label: number}[]}[]} one entry per object (mask) */
    this.objects = [{ points: [] }];
    this.active = 0;
    this.imageSize = null;
    this._undo = [];
  }

  /** Points of the selected object. */
  get points() {
    return this.objects[this.active].points;
  }

  _checkpoint() {
    this._undo.push({ objects: cloneObjects(this.objects), active: this.active });
    if (this._undo.length > 200) this._undo.shift();
  }

  selectObject(k) {
    if (!Number.isInteger(k) || k < 0) throw new Error(`object index must be a non-negative integer, got ${k}`);
    while (this.objects.length <= k) this.objects.push({ points: [] });
    this.active = k;
  }

  /** Append an empty object and select it (undoable). */
  addObject() {
    this._checkpoint();
    this.objects.push({ points: [] });
    this.active = this.objects.length - 1;
    return this.active;
  }

  /** Add a point to the selected object; label 1 = positive (object), 0 = negative (background). */
  add(x, y, label) {
    if (label !== 0 && label !== 1) throw new Error(`label must be 1 (positive) or 0 (negative), got ${label}`);
    this._checkpoint();
    this.points.push({ x, y, label });
  }

  /** Index of the selected object's point nearest (x, y) within radius, or -1. */
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
    if (index < 0 || index >= this.points.length) throw new Error(`no point ${index} on object ${this.active + 1}`);
    this._checkpoint();
    this.points.splice(index, 1);
  }

  /** Remove the selected object's points (undoable). */
  clear() {
    if (!this.points.length) return;
    this._checkpoint();
    this.objects[this.active].points = [];
  }

  get canUndo() {
    return this._undo.length > 0;
  }

  undo() {
    if (!this._undo.length) return false;
    const s = this._undo.pop();
    this.objects = s.objects;
    this.active = Math.min(s.active, this.objects.length - 1);
    return true;
  }

  /** Index of the first object without a positive point before the last object with points, or -1. */
  firstGap() {
    let last = this.objects.length - 1;
    while (last >= 0 && !this.objects[last].points.length) last--;
    for (let i = 0; i <= last; i++) if (!this.objects[i].points.some((p) => p.label === 1)) return i;
    return -1;
  }

  load(text, imageSize = null) {
    const doc = parsePoints(text);
    const target = imageSize || doc.imageSize;
    let objects = doc.objects.length ? doc.objects : [{ points: [] }];
    if (doc.imageSize && target && (doc.imageSize[0] !== target[0] || doc.imageSize[1] !== target[1])) {
      const sx = target[0] / doc.imageSize[0];
      const sy = target[1] / doc.imageSize[1];
      objects = objects.map((o) => ({ points: o.points.map((p) => ({ ...p, x: p.x * sx, y: p.y * sy })) }));
    }
    this.objects = objects;
    this.active = Math.min(this.active, this.objects.length - 1);
    this.imageSize = target ? target.slice() : null;
    this._undo = [];
  }

  setImageSize(size) {
    if (this.imageSize && size && (this.imageSize[0] !== size[0] || this.imageSize[1] !== size[1])) {
      const sx = size[0] / this.imageSize[0];
      const sy = size[1] / this.imageSize[1];
      this.objects = this.objects.map((o) => ({ points: o.points.map((p) => ({ ...p, x: p.x * sx, y: p.y * sy })) }));
    }
    this.imageSize = size ? size.slice() : null;
  }

  get totalPoints() {
    return this.objects.reduce((n, o) => n + o.points.length, 0);
  }

  toJSON() {
    return pointsToJson({ imageSize: this.imageSize, objects: this.objects });
  }
}
