// Click picker for LeviTorSAMMaskPicker: positive / negative points written to `points_json`.

import { PointsModel } from "./lib/points_model.js";
import { imageToCanvas, insideImage } from "./lib/geometry.js";
import { el, loadImage, tintMask, tintLabels, imageToRaster, objectColor } from "./ui_common.js";
import { CanvasEditor } from "./canvas_editor.js";

const HIT_PX = 8;
const POINT_R = 6;

export class SamPointPicker extends CanvasEditor {
  constructor(host, binding) {
    super(host, binding, "points_json");
    this.model = new PointsModel();
    this.mask = null;
    this.countLabel = el("span");
    this.objectSelect = el("select", { title: "Object the clicks belong to (one mask per object)", onchange: () => { this.model.selectObject(+this.objectSelect.value); this.render(); } });
    this.build([
      this.objectSelect,
      this.button("+ Object", "Start the points of another object (its own mask)", () => { this.model.addObject(); this.commit(); }),
      this.button("Undo", "Undo (Ctrl+Z)", () => { if (this.model.undo()) this.commit(); }),
      this.button("Clear", "Remove the points of this object", () => { this.model.clear(); this.commit(); }),
      ...this.imageButton(), this.countLabel]);
    this.restore();
  }

  hasPoints() {
    return this.model.totalPoints > 0;
  }

  clearScene() {
    this.mask = null;
  }

  /**
   * Data sent by the node after a run: message.levitor_sam[0] = {image, mask | labels, width, height}.
   * `mask`: white inside (one object); `labels`: grey value = object index + 1 (several objects).
   */
  async onExecuted(message) {
    const sam = message && message.levitor_sam && message.levitor_sam[0];
    if (!sam) return;
    try {
      const [img, mask, labels] = await Promise.all([
        loadImage(this.host.viewURL(sam.image)),
        sam.mask ? loadImage(this.host.viewURL(sam.mask)) : null,
        sam.labels ? loadImage(this.host.viewURL(sam.labels)) : null,
      ]);
      if (labels) {
        const raster = imageToRaster(labels);
        let n = 0;
        for (const v of raster.values) n = Math.max(n, v);
        this.mask = tintLabels(raster, n, 0.45);
      } else {
        this.mask = mask ? tintMask(mask) : null;
      }
      if (this.binding.properties) this.binding.properties.levitor_image = sam.image;
      this.image = img;
      this.adoptImageSize();
      this.error = "";
    } catch (err) {
      this.error = err.message;
    }
    this.render();
  }

  onPointerDown(e) {
    const p = this.eventImage(e);
    if (!p || (e.button !== 0 && e.button !== 2)) return;
    e.preventDefault();
    e.stopPropagation();
    const hit = this.model.hit(p.x, p.y, HIT_PX / p.t.scale);
    if (e.altKey) {
      if (hit >= 0) {
        this.model.remove(hit);
        this.commit();
      }
      return;
    }
    if (!insideImage(p.t, p.x, p.y)) return;
    const negative = e.button === 2 || e.shiftKey;
    this.model.add(p.x, p.y, negative ? 0 : 1);
    this.commit();
  }

  onKey(e) {
    const ctrl = e.ctrlKey || e.metaKey;
    let handled = true;
    if (ctrl && e.key.toLowerCase() === "z") { if (this.model.undo()) this.commit(); }
    else if ((e.key === "Delete" || e.key === "Backspace") && this.model.points.length) { this.model.remove(this.model.points.length - 1); this.commit(); }
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  }

  beforeDraw() {
    const m = this.model;
    const names = m.objects.map((o, k) => `object ${k + 1} · ${o.points.length} pt`);
    if (this.objectSelect.options.length !== names.length || [...this.objectSelect.options].some((o, i) => o.textContent !== names[i])) {
      this.objectSelect.replaceChildren(...names.map((text, i) => el("option", { value: String(i), textContent: text })));
    }
    this.objectSelect.value = String(m.active);
    this.objectSelect.style.borderColor = objectColor(m.active);
    const pos = m.points.filter((p) => p.label === 1).length;
    this.countLabel.textContent = `${pos} positive · ${m.points.length - pos} negative`;
  }

  drawScene(ctx, t, area) {
    const m = this.model;
    if (this.mask) ctx.drawImage(this.mask, area.x0, area.y0, area.w, area.h);
    // Other objects' points dimmed, the selected object's on top; the ring is the object colour.
    const order = m.objects.map((_, k) => k).filter((k) => k !== m.active).concat([m.active]);
    for (const k of order) {
      ctx.globalAlpha = k === m.active ? 1 : 0.45;
      m.objects[k].points.forEach((p, i) => {
        const [cx, cy] = imageToCanvas(t, p.x, p.y);
        ctx.beginPath();
        ctx.arc(cx, cy, POINT_R, 0, Math.PI * 2);
        ctx.fillStyle = p.label ? "rgb(40, 200, 80)" : "rgb(230, 50, 50)";
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = m.objects.length > 1 ? objectColor(k) : "#fff";
        ctx.stroke();
        ctx.fillStyle = "#fff";
        ctx.fillRect(cx - 3, cy - 0.75, 6, 1.5);
        if (p.label) ctx.fillRect(cx - 0.75, cy - 3, 1.5, 6);
        this.addObstacle(cx - POINT_R, cy - POINT_R, 2 * POINT_R, 2 * POINT_R);
        if (m.objects.length > 1 && i === 0) this.addLabel(`object ${k}`, cx, cy, POINT_R, [`object ${k + 1}`, String(k + 1)], objectColor(k), k === m.active ? 1 : 0);
      });
    }
    ctx.globalAlpha = 1;
  }

  statusText(t) {
    const gap = this.model.firstGap();
    return this.hover && t && insideImage(t, this.hover.x, this.hover.y)
      ? `x ${this.hover.x.toFixed(1)}  y ${this.hover.y.toFixed(1)}`
      : gap >= 0
        ? `object ${gap + 1} has no positive point yet: every object needs one`
        : "click: positive · shift+click / right click: negative · alt+click: remove · Ctrl+Z: undo";
  }
}
