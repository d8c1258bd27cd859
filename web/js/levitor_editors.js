// ComfyUI extension: attaches the LeviTor trajectory editor and SAM point picker to their nodes.
// The editors only edit the nodes' declared STRING widgets (tracks_json, points_json), so a
// workflow runs headless and stays editable by hand without this file.

import { attachEditor, tickEditors, editorConfigured } from "./attach.js";

// The frontend serves the pack's web folder under /extensions/<pack>/; its own modules live at
// <root>/scripts/. Resolve them from this file's URL so any folder depth or URL prefix works.
const here = import.meta.url;
const root = here.slice(0, here.lastIndexOf("/extensions/"));
const { app } = await import(`${root}/scripts/app.js`);
const { api } = await import(`${root}/scripts/api.js`);

function makeHost() {
  return {
    viewURL(ref) {
      const q = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder || "", type: ref.type || "output" });
      return api.apiURL(`/view?${q.toString()}${app.getRandParam ? app.getRandParam() : ""}`);
    },
    fetch(path, init) {
      return api.fetchApi(path, init);
    },
    markDirty() {
      app.graph && app.graph.setDirtyCanvas && app.graph.setDirtyCanvas(true, true);
    },
  };
}

// Each frame the graph canvas draws (zoom, pan) and twice a second (pixel ratio, renderer
// switch): redraw editors whose zoom changed; with the Vue node renderer ("Nodes 2.0",
// LiteGraph.vueNodesMode), mount editors the renderer left out.
let queued = false;
function tick() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    const L = window.LiteGraph;
    tickEditors(!(L && L.vueNodesMode), (node) => !!app.canvas && node.graph === app.canvas.graph);
  });
}

app.registerExtension({
  name: "levitor.editors",
  setup() {
    const canvas = app.canvas;
    if (canvas) {
      const onDrawForeground = canvas.onDrawForeground;
      canvas.onDrawForeground = function () {
        const r = onDrawForeground ? onDrawForeground.apply(this, arguments) : undefined;
        tick();
        return r;
      };
    }
    window.addEventListener("wheel", tick, { capture: true, passive: true });
    setInterval(tick, 500);
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "LeviTorTrajectory3DEditor" && nodeData.name !== "LeviTorSAMMaskPicker") return;
    const kind = nodeData.name === "LeviTorTrajectory3DEditor" ? "trajectory" : "sam";
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated ? onNodeCreated.apply(this, arguments) : undefined;
      try {
        attachEditor(this, kind, makeHost());
      } catch (err) {
        console.error("[LeviTor] editor not attached; the JSON widget still works:", err);
      }
      return r;
    };
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const r = onExecuted ? onExecuted.apply(this, arguments) : undefined;
      if (this.levitorEditor) this.levitorEditor.onExecuted(message);
      return r;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure ? onConfigure.apply(this, arguments) : undefined;
      if (this.levitorEditor) {
        editorConfigured(this);
        this.levitorEditor.restore();
      }
      return r;
    };
  },
});
