// Smallest size at which each editor shows all of its controls and labels unclipped (graph
// units): minWidth / minHeight of the editor itself, nodeMinHeight of its node without the title
// bar (the editor plus the node's inputs and other widgets, as the frontend computes it).
// Read by the frontend adapter when it attaches an editor and by the test of the shipped
// workflows' layouts.

export const NODE_TITLE_HEIGHT = 30;

export const EDITOR_SIZES = {
  trajectory: { node: "LeviTorTrajectory3DEditor", widget: "tracks_json", minWidth: 440, minHeight: 480, nodeMinHeight: 700 },
  sam: { node: "LeviTorSAMMaskPicker", widget: "points_json", minWidth: 380, minHeight: 380, nodeMinHeight: 580 },
};
