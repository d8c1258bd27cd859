// Smallest node size at which each editor shows all of its controls and labels unclipped
// (graph units, without the title bar). Read by the frontend adapter when it attaches an editor
// and by the test that checks the shipped workflows.

export const NODE_TITLE_HEIGHT = 30;

export const EDITOR_SIZES = {
  trajectory: { node: "LeviTorTrajectory3DEditor", widget: "tracks_json", minWidth: 440, minHeight: 480, nodeMinHeight: 640 },
  sam: { node: "LeviTorSAMMaskPicker", widget: "points_json", minWidth: 380, minHeight: 380, nodeMinHeight: 560 },
};
