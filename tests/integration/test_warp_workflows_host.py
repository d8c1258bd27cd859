"""The warped-video example workflows in a real ComfyUI: the planning part of each (image, depth,
masks, editor, render and LeviTor Warped Video) runs headless with tiny models on every host.

The generation part (Wan VACE 14B, SVD-xt) is left out: its nodes are core ComfyUI's, and the
widgets the workflows store for them are checked against the host in test_warp_workflows.py's twin
check and by the real frontend's conversion.
"""

from __future__ import annotations

import json

import pytest

from test_comfyui_host import REPO, host  # noqa: F401  (the host fixture; skips this module where that skips)
from test_wan_workflows_host import MODEL_LOADERS, host_models, planning_part, run_planning_part  # noqa: F401

pytestmark = pytest.mark.comfyui

API_DIR = REPO / "tests" / "workflows" / "warp"
NAMES = sorted(p.name[: -len("_api.json")] for p in API_DIR.glob("*_api.json"))
#: the big models' loaders: Wan VACE's and SVD-xt's
LOADERS = MODEL_LOADERS | {"ImageOnlyCheckpointLoader"}


@pytest.mark.parametrize("name", NAMES)
def test_the_planning_part_runs(host, host_models, tmp_path, name):
    api = planning_part(json.loads((API_DIR / f"{name}_api.json").read_text()), LOADERS)
    kinds = {n["class_type"] for n in api.values()}
    assert "LeviTorWarpedVideo" in kinds and "SaveImage" in kinds and not kinds & LOADERS
    run_planning_part(host, host_models, tmp_path, name, api)
