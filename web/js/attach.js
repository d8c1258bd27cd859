// Binds an editor to a node object: its STRING widget, a DOM widget that is never serialized,
// and the node's saved properties. Independent of ComfyUI's modules so a test page can use it.

import { TrajectoryEditor } from "./trajectory_widget.js";
import { SamPointPicker } from "./sam_widget.js";
import { EDITOR_SIZES } from "./lib/editor_sizes.js";
import { numFramesFromGraph } from "./lib/graph_frames.js";
import { el } from "./ui_common.js";

const KINDS = {
  trajectory: { ...EDITOR_SIZES.trajectory, Editor: TrajectoryEditor, domName: "levitor_trajectory_editor" },
  sam: { ...EDITOR_SIZES.sam, Editor: SamPointPicker, domName: "levitor_sam_picker" },
};

/** Every attached editor, for the host's per-frame check (zoom, pixel ratio, mounting). */
const attached = new Set();

/**
 * Attach the editor of `kind` ("trajectory" | "sam") to `node` and return it.
 * `host`: { viewURL(ref), fetch(path, init), markDirty() }.
 */
export function attachEditor(node, kind, host) {
  const spec = KINDS[kind];
  if (!spec) throw new Error(`unknown editor kind ${kind}`);
  const widget = (node.widgets || []).find((w) => w.name === spec.widget);
  if (!widget) throw new Error(`node has no ${spec.widget} widget`);
  node.properties = node.properties || {};
  const binding = {
    // Read when needed: a node gets its graph id only once it is added to the graph.
    get nodeId() {
      return node.id;
    },
    get properties() {
      node.properties = node.properties || {};
      return node.properties;
    },
    getText: () => (typeof widget.value === "string" ? widget.value : ""),
    setText: (text) => {
      widget.value = text;
      // Keep a multiline textarea in sync where the frontend exposes it.
      if (widget.inputEl && widget.inputEl.value !== text) widget.inputEl.value = text;
      if (widget.element && "value" in widget.element && widget.element.value !== text) widget.element.value = text;
    },
    // The node's own num_frames, else the render node's that its outputs feed.
    getNumFrames: () => numFramesFromGraph(node, node.graph),
  };
  const editor = new spec.Editor(host, binding);
  // Hand edits of the JSON text flow back into the editor.
  const callback = widget.callback;
  widget.callback = function (value) {
    const r = callback ? callback.apply(this, arguments) : undefined;
    editor.reloadFromWidget();
    return r;
  };
  const dom = node.addDOMWidget(spec.domName, "levitor-editor", editor.element, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => undefined,
    setValue: () => {},
    getMinHeight: () => spec.minHeight,
    getMinWidth: () => spec.minWidth,
  });
  if (dom) dom.serialize = false;
  node.levitorEditor = editor;
  if (node.size && node.setSize) node.setSize([Math.max(node.size[0], spec.minWidth), Math.max(node.size[1], spec.nodeMinHeight)]);
  const entry = { node, editor, spec };
  attached.add(entry);
  const onRemoved = node.onRemoved;
  node.onRemoved = function () {
    attached.delete(entry);
    return onRemoved ? onRemoved.apply(this, arguments) : undefined;
  };
  return editor;
}

/** Height of the editor inside a node of height `nodeH` when we host it ourselves. */
function hostedHeight(spec, nodeH) {
  return Math.max(spec.minHeight, nodeH - (spec.nodeMinHeight - spec.minHeight));
}

/**
 * Put the editor into the node's body when the node renderer did not mount the DOM widget
 * (the Vue node renderer of frontend 1.27 draws only its own widget types). The holder has the
 * node's size from `node.size` and a corner grip that resizes it. Returns whether it is ours.
 */
export function mountInNodeBody(node, editor, spec, doc = document) {
  const holder = editor.vueHost;
  if (editor.element.isConnected && !(holder && editor.element.parentNode === holder)) return false;
  if (!(holder && holder.isConnected && editor.element.parentNode === holder)) {
    const root = doc.querySelector(`[data-node-id="${node.id}"]`);
    if (!root) return false;
    const body = root.querySelector(`[data-testid="node-body-${node.id}"]`) || root;
    const h = holder || makeHolder(node, editor, spec);
    h.prepend(editor.element);
    body.appendChild(h);
  }
  const [w, hgt] = node.size || [spec.minWidth, spec.nodeMinHeight];
  editor.vueHost.style.width = `${Math.max(spec.minWidth, w)}px`;
  editor.vueHost.style.height = `${hostedHeight(spec, hgt)}px`;
  return true;
}

function makeHolder(node, editor, spec) {
  const grip = el("div", { class: "lv-grip", title: "Drag to resize" });
  const holder = el("div", { class: "levitor-vue-host" }, grip);
  holder.addEventListener("pointerdown", (e) => e.stopPropagation());
  grip.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    grip.setPointerCapture(e.pointerId);
    const zoom = holder.getBoundingClientRect().width / Math.max(1, holder.offsetWidth);
    const start = { x: e.clientX, y: e.clientY, size: [...(node.size || [spec.minWidth, spec.nodeMinHeight])] };
    const move = (ev) => {
      const size = [Math.max(spec.minWidth, start.size[0] + (ev.clientX - start.x) / zoom),
        Math.max(spec.nodeMinHeight, start.size[1] + (ev.clientY - start.y) / zoom)];
      if (node.setSize) node.setSize(size);
      else node.size = size;
      mountInNodeBody(node, editor, spec, holder.ownerDocument);
    };
    const up = () => {
      grip.removeEventListener("pointermove", move);
      grip.removeEventListener("pointerup", up);
      editor.render();
    };
    grip.addEventListener("pointermove", move);
    grip.addEventListener("pointerup", up);
  });
  editor.vueHost = holder;
  return holder;
}

/**
 * The host calls this after it draws a frame (zoom, pan, mode switch): in `hostMounts === false`
 * renderers the editors are mounted into their nodes, and every editor redraws if its zoom,
 * pixel ratio or frame count changed.
 */
export function tickEditors(hostMounts = true, doc = document) {
  for (const { node, editor, spec } of attached) {
    if (!hostMounts) mountInNodeBody(node, editor, spec, doc);
    editor.checkScale();
  }
}
