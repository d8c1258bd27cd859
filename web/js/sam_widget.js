// Click picker for LeviTorSAMMaskPicker: positive / negative points written to `points_json`.

import { PointsModel } from "./lib/points_model.js";
import { fitTransform, canvasToImage, imageToCanvas, insideImage, eventToCanvas } from "./lib/geometry.js";
import { injectStyle, el, loadImage, tintMask, tintLabels, imageToRaster, uploadImage, imageFromTransfer, fitCanvas, canvasSize, claimKeyboard, objectColor, drawLabel } from "./ui_common.js";

const HIT_PX = 8;

/**
 * `binding`: getText() / setText(text) for the points_json widget, properties (saved with the
 * workflow). `host`: { viewURL(ref), fetch(path, init), markDirty() }.
 */
export class SamPointPicker {
  constructor(host, binding) {
    injectStyle();
    this.host = host;
    this.binding = binding;
    this.model = new PointsModel();
    this.image = null;
    this.mask = null;
    this.hover = null;
    this.error = "";
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

  _build() {
    const b = (label, title, fn) => el("button", { textContent: label, title, onclick: (e) => { e.preventDefault(); fn(); } });
    this.fileInput = el("input", { type: "file", accept: "image/*", style: "display:none", onchange: () => { const f = this.fileInput.files[0]; if (f) this.upload(f); this.fileInput.value = ""; } });
    this.countLabel = el("span");
    this.objectSelect = el("select", { title: "Object the clicks belong to (one mask per object)", onchange: () => { this.model.selectObject(+this.objectSelect.value); this.render(); } });
    this.toolbar = el("div", { class: "lv-bar" },
      this.objectSelect,
      b("+ Object", "Start the points of another object (its own mask)", () => { this.model.addObject(); this.commit(); }),
      b("Undo", "Undo (Ctrl+Z)", () => { if (this.model.undo()) this.commit(); }),
      b("Clear", "Remove the points of this object", () => { this.model.clear(); this.commit(); }),
      b("Image…", "Upload a background image (or paste / drop one)", () => this.fileInput.click()),
      this.fileInput, this.countLabel);
    this.canvas = el("canvas", { tabIndex: 0 });
    this.stage = el("div", { class: "lv-stage" }, this.canvas);
    this.status = el("div", { class: "lv-status" });
    this.element = el("div", { class: "levitor-editor" }, this.toolbar, this.stage, this.status);
    // Pick up hand edits of the JSON text made while the pointer was elsewhere.
    this.element.addEventListener("pointerenter", () => this.reloadFromWidget());
    const c = claimKeyboard(this.canvas);
    c.addEventListener("pointerdown", (e) => this._onDown(e));
    c.addEventListener("pointermove", (e) => { this.hover = this._eventImage(e); this.render(); });
    c.addEventListener("pointerleave", () => { this.hover = null; this.render(); });
    c.addEventListener("contextmenu", (e) => { e.preventDefault(); e.stopPropagation(); });
    c.addEventListener("keydown", (e) => this._onKey(e));
    this.element.addEventListener("paste", (e) => { const f = imageFromTransfer(e.clipboardData); if (f) { e.preventDefault(); this.upload(f); } });
    this.element.addEventListener("dragover", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { e.preventDefault(); e.stopPropagation(); } });
    this.element.addEventListener("drop", (e) => { const f = imageFromTransfer(e.dataTransfer); if (f) { e.preventDefault(); e.stopPropagation(); this.upload(f); } });
    if (typeof ResizeObserver !== "undefined") {
      this._resize = new ResizeObserver(() => this.render());
      this._resize.observe(this.stage);
    }
  }

  reloadFromWidget() {
    const text = this.binding.getText() || "";
    if (text === this._written) return;
    try {
      this.model.load(text, this.image ? [this.image.naturalWidth, this.image.naturalHeight] : null);
      this.error = "";
    } catch (err) {
      this.error = `points_json: ${err.message}`;
    }
    this._written = text;
    this.render();
  }

  commit() {
    const text = this.model.toJSON();
    this._written = text;
    this.binding.setText(text);
    this.error = "";
    this.host.markDirty();
    this.render();
  }

  async setBackground(ref) {
    this.image = await loadImage(this.host.viewURL(ref));
    const size = [this.image.naturalWidth, this.image.naturalHeight];
    const old = this.model.imageSize;
    this.model.setImageSize(size);
    if (this.model.totalPoints && (!old || old[0] !== size[0] || old[1] !== size[1])) this.commit();
    this.render();
  }

  async upload(file) {
    try {
      const ref = await uploadImage(this.host, file);
      if (this.binding.properties) this.binding.properties.levitor_image = ref;
      this.mask = null;
      await this.setBackground(ref);
    } catch (err) {
      this.error = err.message;
      this.render();
    }
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
      const size = [img.naturalWidth, img.naturalHeight];
      const old = this.model.imageSize;
      this.model.setImageSize(size);
      if (this.model.totalPoints && (!old || old[0] !== size[0] || old[1] !== size[1])) this.commit();
      this.error = "";
    } catch (err) {
      this.error = err.message;
    }
    this.render();
  }

  _transform() {
    const size = this.image ? [this.image.naturalWidth, this.image.naturalHeight] : this.model.imageSize;
    return size ? fitTransform(size[0], size[1], ...canvasSize(this.canvas), 4) : null;
  }

  _eventImage(e) {
    const t = this._transform();
    if (!t) return null;
    const [cx, cy] = eventToCanvas(e.clientX, e.clientY, this.canvas.getBoundingClientRect(), ...canvasSize(this.canvas));
    const [x, y] = canvasToImage(t, cx, cy);
    return { t, x, y };
  }

  _onDown(e) {
    this.canvas.focus({ preventScroll: true });
    const p = this._eventImage(e);
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

  _onKey(e) {
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

  render() {
    if (this._raf) return;
    const run = () => { this._raf = 0; this._draw(); };
    if (typeof requestAnimationFrame !== "undefined") this._raf = requestAnimationFrame(run);
    else run();
  }

  drawNow() {
    if (this._raf) cancelAnimationFrame(this._raf);
    this._raf = 0;
    this._draw();
  }

  _draw() {
    const ctx = fitCanvas(this.canvas);
    const [cw, ch] = canvasSize(this.canvas);
    ctx.clearRect(0, 0, cw, ch);
    const m = this.model;
    const names = m.objects.map((o, k) => `object ${k + 1} · ${o.points.length} pt`);
    if (this.objectSelect.options.length !== names.length || [...this.objectSelect.options].some((o, i) => o.textContent !== names[i])) {
      this.objectSelect.replaceChildren(...names.map((text, i) => el("option", { value: String(i), textContent: text })));
    }
    this.objectSelect.value = String(m.active);
    this.objectSelect.style.borderColor = objectColor(m.active);
    const pos = m.points.filter((p) => p.label === 1).length;
    this.countLabel.textContent = `${pos} positive · ${m.points.length - pos} negative`;
    const t = this._transform();
    if (!t) {
      ctx.fillStyle = "#888";
      ctx.font = "13px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("Run the workflow once, or upload / paste / drop an image", cw / 2, ch / 2);
      ctx.textAlign = "start";
    } else {
      const [x0, y0] = imageToCanvas(t, 0, 0);
      const w = t.imageW * t.scale;
      const h = t.imageH * t.scale;
      if (this.image) ctx.drawImage(this.image, x0, y0, w, h);
      else { ctx.fillStyle = "#2a2a2a"; ctx.fillRect(x0, y0, w, h); }
      if (this.mask) ctx.drawImage(this.mask, x0, y0, w, h);
      // Other objects' points dimmed, the selected object's on top; the ring is the object colour.
      const order = m.objects.map((_, k) => k).filter((k) => k !== m.active).concat([m.active]);
      for (const k of order) {
        const active = k === m.active;
        ctx.globalAlpha = active ? 1 : 0.45;
        m.objects[k].points.forEach((p, i) => {
          const [cx, cy] = imageToCanvas(t, p.x, p.y);
          ctx.beginPath();
          ctx.arc(cx, cy, 6, 0, Math.PI * 2);
          ctx.fillStyle = p.label ? "rgb(40, 200, 80)" : "rgb(230, 50, 50)";
          ctx.fill();
          ctx.lineWidth = 1.5;
          ctx.strokeStyle = m.objects.length > 1 ? objectColor(k) : "#fff";
          ctx.stroke();
          ctx.fillStyle = "#fff";
          ctx.fillRect(cx - 3, cy - 0.75, 6, 1.5);
          if (p.label) ctx.fillRect(cx - 0.75, cy - 3, 1.5, 6);
          if (m.objects.length > 1 && i === 0) drawLabel(ctx, String(k + 1), cx + 8, cy - 5, objectColor(k));
        });
      }
      ctx.globalAlpha = 1;
    }
    if (this.error) {
      this.status.textContent = this.error;
      this.status.classList.add("lv-error");
    } else {
      this.status.classList.remove("lv-error");
      const gap = m.firstGap();
      this.status.textContent = this.hover && t && insideImage(t, this.hover.x, this.hover.y)
        ? `x ${this.hover.x.toFixed(1)}  y ${this.hover.y.toFixed(1)}`
        : gap >= 0
          ? `object ${gap + 1} has no positive point yet: every object needs one`
          : "click: positive · shift+click / right click: negative · alt+click: remove · Ctrl+Z: undo";
    }
  }
}
