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

/**
 * Size [width, height] of the editor when we host it ourselves, kept in the node's properties
 * (saved with the workflow). The renderer that needs this measures node sizes from their
 * content, ours included, so the size is taken from the node only where the node's size is
 * the user's: while the classic renderer shows it and when a workflow is loaded.
 */
function hostedSize(node, spec, size) {
  const p = (node.properties = node.properties || {});
  if (size) p.levitor_editor_size = size;
  if (!Array.isArray(p.levitor_editor_size)) rememberNodeSize(node, spec);
  const [w, h] = p.levitor_editor_size;
  return [Math.max(spec.minWidth, Math.round(w)), Math.max(spec.minHeight, Math.round(h))];
}

function rememberNodeSize(node, spec) {
  const [w, h] = node.size || [spec.minWidth, spec.nodeMinHeight];
  const size = [Math.round(w), Math.round(h - (spec.nodeMinHeight - spec.minHeight))];
  const p = (node.properties = node.properties || {});
  const old = p.levitor_editor_size;
  if (!(Array.isArray(old) && old[0] === size[0] && old[1] === size[1])) p.levitor_editor_size = size;
}

/** Take the editor size from the node's saved size (the frontend calls this when a workflow loads). */
export function editorConfigured(node) {
  const entry = [...attached].find((x) => x.node === node);
  if (entry && !(node.properties && Array.isArray(node.properties.levitor_editor_size))) rememberNodeSize(node, entry.spec);
}

/**
 * Put the editor at the end of the node's element when the node renderer did not mount the DOM
 * widget. Only the Vue node renderer of frontend 1.27 (an opt-in preview there) draws just its
 * own widget types and gives its nodes no resize handle, so there the holder brings a corner grip;
 * later frontends mount DOM widgets themselves and resize them with the node. Returns whether the
 * editor is hosted by us.
 */
export function mountInNodeBody(node, editor, spec, doc = document) {
  const holder = editor.vueHost;
  if (editor.element.isConnected && !(holder && editor.element.parentNode === holder)) return false;
  if (!(holder && holder.isConnected && editor.element.parentNode === holder)) {
    const root = doc.querySelector(`[data-node-id="${node.id}"]`);
    if (!root) return false;
    const h = holder || makeHolder(node, editor, spec);
    h.prepend(editor.element);
    root.appendChild(h);
  }
  const [w, h] = hostedSize(node, spec);
  editor.vueHost.style.width = `${w}px`;
  editor.vueHost.style.height = `${h}px`;
  return true;
}

function makeHolder(node, editor, spec) {
  const grip = el("div", { class: "lv-grip", title: "Drag to resize" });
  const holder = el("div", { class: "levitor-vue-host" }, grip);
  holder.addEventListener("pointerdown", (e) => e.stopPropagation());
  // Move and up are followed on the window: the renderer may re-render the node body under the
  // pointer, which drops a pointer capture.
  grip.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    const win = holder.ownerDocument.defaultView;
    const zoom = holder.getBoundingClientRect().width / Math.max(1, holder.offsetWidth);
    const start = { x: e.clientX, y: e.clientY, size: hostedSize(node, spec) };
    const move = (ev) => {
      hostedSize(node, spec, [start.size[0] + (ev.clientX - start.x) / zoom, start.size[1] + (ev.clientY - start.y) / zoom]);
      mountInNodeBody(node, editor, spec, holder.ownerDocument);
    };
    const up = (ev) => {
      move(ev);
      win.removeEventListener("pointermove", move, true);
      win.removeEventListener("pointerup", up, true);
      editor.render();
    };
    win.addEventListener("pointermove", move, true);
    win.addEventListener("pointerup", up, true);
  });
  editor.vueHost = holder;
  return holder;
}

/**
 * The host calls this after it draws a frame (zoom, pan, mode switch): in `hostMounts === false`
 * renderers the editors of nodes in the shown graph (`shown(node)`) are mounted into their
 * nodes, and every editor redraws if its zoom, pixel ratio or frame count changed.
 */
export function tickEditors(hostMounts = true, shown = () => true, doc = document) {
  for (const entry of attached) {
    const { node, editor, spec } = entry;
    if (!hostMounts && shown(node)) mountInNodeBody(node, editor, spec, doc);
    else if (hostMounts && editor.element.isConnected) rememberNodeSize(node, spec);
    editor.checkScale();
  }
}
