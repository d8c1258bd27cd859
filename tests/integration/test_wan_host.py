"""The point-track nodes in a real ComfyUI: core's Wan-Move nodes read our TRACKS where we put
them, and a ComfyUI without the TRACKS type loads the pack without the Wan-Move tracks node.

Runs ``wan_host_check.py`` with each host's python (tests/hosts.py); see its docstring for what is
compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hosts import HOSTS, NO_HOST, has_tracks, host_params  # noqa: E402

pytestmark = pytest.mark.comfyui

if not HOSTS:
    pytest.skip(NO_HOST, allow_module_level=True)


@pytest.fixture(scope="module", params=host_params())
def host(request):
    """One real ComfyUI host (each test runs on every host that is set)."""
    return request.param



def run_check(host, name: str, work: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([host.python, str(HERE / "wan_host_check.py"), host.comfy_dir, name, str(work)],
                          capture_output=True, text=True, timeout=1200, cwd=host.comfy_dir, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the {name} check (rc {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(lines[-1])
    assert proc.returncode == 0 and result["ok"], result
    return result


def test_core_wan_move_reads_our_tracks_where_we_put_them(host, tmp_path):
    if not has_tracks(host):
        pytest.skip(f"ComfyUI {host.version} has no Wan-Move nodes (no TRACKS type)")
    result = run_check(host, "current", tmp_path)
    assert result["pos_embeddings_equal"] and result["targets_without_their_source"] == 0
    assert result["max_diff_elsewhere"] == 0.0 and result["hidden_some_frames"] > 0


def test_without_the_tracks_type_the_node_declines_and_the_pack_loads(host, tmp_path):
    if has_tracks(host):
        pytest.skip(f"ComfyUI {host.version} has the TRACKS type")
    result = run_check(host, "minimum", tmp_path)
    assert result["nodes"] == ["LeviTorATITracks"] and len(result["log"]) == 1
