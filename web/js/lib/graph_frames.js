// The frame count an editor should show, read from the graph: the node's own `num_frames`
// widget, else the `num_frames` widget of the first node its outputs feed (the render node).
// Works on LiteGraph-shaped plain objects so it can be tested without a frontend.

function widgetFrames(node) {
  const w = node && (node.widgets || []).find((x) => x.name === "num_frames");
  const v = w ? Number(w.value) : NaN;
  return Number.isInteger(v) && v > 0 ? v : null;
}

function linkById(graph, id) {
  const links = graph && graph.links;
  if (!links) return null;
  return typeof links.get === "function" ? links.get(id) : links[id];
}

/**
 * @param node  {widgets, outputs: [{links: [id]}]}
 * @param graph {links: Map | object of {target_id}, getNodeById(id)}
 * @returns {number | null}
 */
export function numFramesFromGraph(node, graph) {
  const own = widgetFrames(node);
  if (own !== null) return own;
  if (!graph || typeof graph.getNodeById !== "function") return null;
  for (const out of (node && node.outputs) || []) {
    for (const id of out.links || []) {
      const link = linkById(graph, id);
      const target = link && graph.getNodeById(link.target_id);
      const v = widgetFrames(target);
      if (v !== null) return v;
    }
  }
  return null;
}
