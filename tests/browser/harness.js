// A stand-in for the few ComfyUI objects the editors touch: a node with widgets, addDOMWidget,
// and a host that serves files from /assets/ and forwards the preview route to the test server.
import { attachEditor } from "/web/js/attach.js";

function fakeNode(id, widgetName, container) {
  const node = {
    id,
    size: [400, 300],
    properties: {},
    widgets: [{ name: widgetName, type: "customtext", value: "", options: {}, callback: null }],
    domWidgets: [],
    setSize(s) { this.size = s; },
    addDOMWidget(name, type, element, options) {
      const holder = document.createElement("div");
      holder.className = "dom";
      holder.appendChild(element);
      container.appendChild(holder);
      const w = { name, type, element, options, value: options.getValue ? options.getValue() : undefined };
      this.widgets.push(w);
      this.domWidgets.push(w);
      return w;
    },
  };
  return node;
}

const calls = { upload: 0, preview: [], dirty: 0 };
const host = {
  viewURL: (ref) => `/assets/${encodeURIComponent(ref.filename)}`,
  async fetch(path, init) {
    if (path === "/upload/image") {
      calls.upload += 1;
      return new Response(JSON.stringify({ name: "image.png", subfolder: "", type: "input" }), { status: 200 });
    }
    if (path === "/levitor/preview") calls.preview.push(JSON.parse(init.body));
    return fetch(path, init);
  },
  markDirty() { calls.dirty += 1; },
};

const trajNode = fakeNode(7, "tracks_json", document.getElementById("traj"));
const samNode = fakeNode(8, "points_json", document.getElementById("sam"));
const traj = attachEditor(trajNode, "trajectory", host);
const sam = attachEditor(samNode, "sam", host);

window.harness = {
  trajNode, samNode, traj, sam, calls,
  tracksText: () => trajNode.widgets[0].value,
  pointsText: () => samNode.widgets[0].value,
  /** Type into the JSON widget like a user and fire its callback. */
  handEdit(node, text) {
    node.widgets[0].value = text;
    node.widgets[0].callback && node.widgets[0].callback(text);
  },
};
window.harnessReady = true;
