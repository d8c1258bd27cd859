// Every UI workflow shipped with the pack: the editors read its JSON widgets, and its layout
// leaves room for every node's title bar and gives the editors at least their minimum size.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { TrackModel } from "../js/lib/track_model.js";
import { PointsModel } from "../js/lib/points_model.js";
import { EDITOR_SIZES, NODE_TITLE_HEIGHT } from "../js/lib/editor_sizes.js";

const dirs = ["../../example_workflows/", "../../workflows/"].map((d) => new URL(d, import.meta.url)).filter((d) => existsSync(d));
const files = dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => new URL(f, dir)))
  .map((url) => [url.pathname.split("/").slice(-2).join("/"), JSON.parse(readFileSync(url, "utf8"))])
  .filter(([, wf]) => Array.isArray(wf.nodes)); // UI format (an index.json or API prompt is not a layout)

test("example workflows are present", () => {
  assert.ok(files.length > 0, "no UI workflow in example_workflows/ or workflows/");
});

/** A node's box on the canvas: its size plus the title bar above pos. */
function box(n) {
  return { x: n.pos[0], y: n.pos[1] - NODE_TITLE_HEIGHT, w: n.size[0], h: n.size[1] + NODE_TITLE_HEIGHT };
}

for (const [name, wf] of files) {
  test(`${name}: no two nodes overlap, title bars included`, () => {
    const boxes = wf.nodes.map((n) => [n, box(n)]);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [n, a] = boxes[i];
        const [m, b] = boxes[j];
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `#${n.id} ${n.type} ${JSON.stringify(a)} overlaps #${m.id} ${m.type} ${JSON.stringify(b)}`);
      }
    }
  });

  test(`${name}: editors at least their minimum size`, () => {
    for (const spec of Object.values(EDITOR_SIZES)) {
      for (const n of wf.nodes.filter((x) => x.type === spec.node)) {
        assert.ok(n.size[0] >= spec.minWidth && n.size[1] >= spec.nodeMinHeight,
          `#${n.id} ${n.type} is ${n.size.join("×")}, needs at least ${spec.minWidth}×${spec.nodeMinHeight}`);
      }
    }
  });

  const nodes = wf.nodes;
  for (const node of nodes.filter((n) => n.type === "LeviTorTrajectory3DEditor" || n.type === "LeviTorSAMMaskPicker")) {
    test(`${name}: ${node.type} #${node.id} JSON loads in the editor and round-trips`, () => {
      const text = (node.widgets_values || []).find((v) => typeof v === "string" && v.includes('"levitor-'));
      assert.ok(text !== undefined, "the node keeps its JSON in widgets_values");
      if (node.type === "LeviTorTrajectory3DEditor") {
        const m = new TrackModel();
        m.load(text);
        const again = new TrackModel();
        again.load(m.toJSON());
        assert.deepEqual(again.tracks.map((t) => t.points), m.tracks.map((t) => t.points));
        assert.equal(m.firstGap(), -1);
      } else {
        const p = new PointsModel();
        p.load(text);
        const again = new PointsModel();
        again.load(p.toJSON());
        assert.deepEqual(again.objects, p.objects);
        assert.equal(p.firstGap(), -1);
      }
    });
  }
}
