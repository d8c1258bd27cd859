"""The point-track nodes in a real ComfyUI: core's Wan-Move nodes read our TRACKS where we put
them, and a ComfyUI without the TRACKS type loads the pack without the Wan-Move tracks node.

Runs ``wan_host_check.py`` with the host's python (``COMFYUI_DIR``, ``COMFYUI_PYTHON``); see its
docstring for what is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
COMFY_DIR = os.environ.get("COMFYUI_DIR")
COMFY_PY = os.environ.get("COMFYUI_PYTHON")

pytestmark = [pytest.mark.comfyui, pytest.mark.slow]

if not (COMFY_DIR and COMFY_PY):
    pytest.skip("set COMFYUI_DIR and COMFYUI_PYTHON to run the point-track nodes in a real ComfyUI host",
                allow_module_level=True)

HAS_TRACKS = "class Tracks(" in (Path(COMFY_DIR) / "comfy_api" / "latest" / "_io.py").read_text()


def run_check(name: str, work: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([COMFY_PY, str(HERE / "wan_host_check.py"), COMFY_DIR, name, str(work)],
                          capture_output=True, text=True, timeout=1200, cwd=COMFY_DIR, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the {name} check (rc {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(lines[-1])
    assert proc.returncode == 0 and result["ok"], result
    return result


@pytest.mark.skipif(not HAS_TRACKS, reason="this ComfyUI has no Wan-Move nodes (no TRACKS type)")
def test_core_wan_move_reads_our_tracks_where_we_put_them(tmp_path):
    result = run_check("current", tmp_path)
    assert result["pos_embeddings_equal"] and result["targets_without_their_source"] == 0
    assert result["max_diff_elsewhere"] == 0.0 and result["hidden_some_frames"] > 0


@pytest.mark.skipif(HAS_TRACKS, reason="this ComfyUI has the TRACKS type")
def test_without_the_tracks_type_the_node_declines_and_the_pack_loads(tmp_path):
    result = run_check("minimum", tmp_path)
    assert result["nodes"] == ["LeviTorATITracks"] and len(result["log"]) == 1
