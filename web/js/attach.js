// Binds an editor to a node object: its STRING widget, a DOM widget that is never serialized,
// and the node's saved properties. Independent of ComfyUI's modules so a test page can use it.

import { TrajectoryEditor } from "./trajectory_widget.js";
import { SamPointPicker } from "./sam_widget.js";

const KINDS = {
  trajectory: { widget: "tracks_json", Editor: TrajectoryEditor, domName: "levitor_trajectory_editor", minHeight: 460 },
  sam: { widget: "points_json", Editor: SamPointPicker, domName: "levitor_sam_picker", minHeight: 360 },
};

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
  let editor = null;
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
    getNumFrames: () => {
      const w = (node.widgets || []).find((x) => x.name === "num_frames");
      const v = w ? Number(w.value) : NaN;
      return Number.isInteger(v) && v > 0 ? v : null;
    },
  };
  editor = new spec.Editor(host, binding);
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
  });
  if (dom) dom.serialize = false;
  node.levitorEditor = editor;
  const nw = node.widgets && node.widgets.find((x) => x.name === "num_frames");
  if (nw) {
    const cb = nw.callback;
    nw.callback = function () {
      const r = cb ? cb.apply(this, arguments) : undefined;
      editor.render && editor.render();
      return r;
    };
  }
  if (node.size && node.setSize) node.setSize([Math.max(node.size[0], 420), Math.max(node.size[1], spec.minHeight + 120)]);
  return editor;
}
