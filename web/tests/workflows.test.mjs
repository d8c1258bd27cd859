// The editors read the JSON widgets of every example workflow shipped with the pack.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { TrackModel } from "../js/lib/track_model.js";
import { PointsModel } from "../js/lib/points_model.js";

const dir = new URL("../../example_workflows/", import.meta.url);
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : [];

test("example workflows are present", { skip: files.length ? false : "no example_workflows/ folder" }, () => {
  assert.ok(files.length > 0);
});

for (const name of files) {
  const wf = JSON.parse(readFileSync(new URL(name, dir), "utf8"));
  const nodes = Array.isArray(wf.nodes) ? wf.nodes : [];
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
