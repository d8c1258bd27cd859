"""The warped-video example workflows in a real ComfyUI: the planning part of each (image, depth,
masks, editor, render and LeviTor Warped Video) runs headless with tiny models on every host.

The generation part (Wan VACE 14B, SVD-xt) is left out: its nodes are core ComfyUI's, and the
widgets the workflows store for them are checked against the host in test_warp_workflows.py's twin
check and by the real frontend's conversion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from test_comfyui_host import REPO, RUNNER, host  # noqa: F401  (the host fixture; skips this module where that skips)
from test_wan_workflows_host import MODEL_LOADERS, host_models, planning_part  # noqa: F401  (fixture)

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
    workflow = tmp_path / f"{name}_planning_api.json"
    workflow.write_text(json.dumps(api))
    image = tmp_path / "levitor_demo.png"
    shutil.copy(REPO / "levitor" / "assets" / "demo" / "image.png", image)
    cmd = [sys.executable, str(RUNNER), "--comfy-dir", host.comfy_dir, "--python", host.python,
           "--node-package", str(REPO), "--workflow", str(workflow), "--copy-input", str(image),
           "--disable-core-custom-nodes", "--expect-files", "1", "--timeout", "900",
           "--json-out", str(tmp_path / "result.json")]
    for key in ("sams", "depthanything"):
        cmd += ["--model-dir", key, str(host_models / key)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (
        f"run_workflow.py exited {proc.returncode} for {name}\n--- stdout\n{proc.stdout[-6000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")
