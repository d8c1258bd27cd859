"""The example workflows in a real ComfyUI, headless on the CPU, with tiny random models.

Runs on every host ``tests/hosts.py`` finds: ``COMFYUI_DIR`` / ``COMFYUI_PYTHON`` (the oldest
supported ComfyUI) and ``COMFYUI_CURRENT_DIR`` / ``COMFYUI_CURRENT_PYTHON`` (the newest tested), each a
ComfyUI checkout and its venv's python with this project's requirements installed; skipped without. Uses the ComfyUI host runner
``run_workflow.py`` from the folder ``LEVITOR_HOST_TOOLS`` names, which starts a private server
on loopback, checks the pack imported and every node type exists, submits the API-format
workflow and fails on validation or execution errors or a missing output file. The workflows run
with tiny random models and small settings (144x256, 4 frames, 1 step). Every run also checks the
server log holds no import warning from the pack, and one check loads the pack into the host's
own node registry and asserts every node arrived through the V3 entry point.

``LEVITOR_PACK_DIR`` runs all of it against another copy of the pack (the published archive,
unpacked) instead of this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from hosts import HOSTS, NO_HOST, has_tracks, host_params  # noqa: E402

from fakes.workflow_models import fast_variant, write_workflow_models  # noqa: E402

pytestmark = pytest.mark.comfyui

RUNNER = Path(os.environ.get("LEVITOR_HOST_TOOLS", "")) / "run_workflow.py"
WORKFLOWS = REPO / "tests" / "workflows"
#: API workflows as the shipped UI workflows convert, and ones saved with earlier versions of the pack
#: (the native workflows, in ``native/``, run in test_native_workflows_host.py with their own loader;
#: the Wan ones, in ``wan/``, in test_wan_workflows_host.py; the warped-video ones, in ``warp/``, in
#: test_warp_workflows_host.py)
NAMES = sorted(str(p.relative_to(WORKFLOWS))[: -len("_api.json")] for p in WORKFLOWS.rglob("*_api.json")
               if p.parent.name not in ("native", "wan", "warp"))
PACK = Path(os.environ.get("LEVITOR_PACK_DIR") or REPO)
NODE_IDS = sorted(json.loads((REPO / "locales" / "en" / "nodeDefs.json").read_text()))

if not HOSTS:
    pytest.skip(NO_HOST, allow_module_level=True)
if not os.environ.get("LEVITOR_HOST_TOOLS") or not RUNNER.is_file():
    pytest.skip("set LEVITOR_HOST_TOOLS to the folder of the ComfyUI host runner run_workflow.py",
                allow_module_level=True)


@pytest.fixture(scope="module", params=host_params())
def host(request):
    """One real ComfyUI host (each test runs on every host that is set)."""
    return request.param


@pytest.fixture(scope="module")
def host_models(tmp_path_factory):
    return write_workflow_models(tmp_path_factory.mktemp("host_models"))


def pack_log_lines(log: str) -> list[str]:
    """Startup lines of a ComfyUI log that mention the pack, other than its import time and the
    model folders it was given: import warnings and errors show up here."""
    startup = log.split("Starting server")[0]
    marks = ("levitor", "/" + PACK.name.lower())  # the folder as a path part: "main" alone is in every log
    return [line for line in startup.splitlines()
            if any(m in line.lower() for m in marks)
            and not line.startswith("Adding extra search path") and " seconds: " not in line]


@pytest.mark.parametrize("name", NAMES)
def test_workflow_runs_in_comfyui(host, host_models, tmp_path, name):
    run_workflow(host, host_models, tmp_path, name)


def test_images_in_fp16_are_taken(host, host_models, tmp_path):
    """With ``--fp16-intermediates`` (newer hosts) LoadImage gives fp16 IMAGE and MASK tensors: every
    node of the depth, SAM, editor, render and sampler chain takes them."""
    if host.role != "current":
        pytest.skip(f"ComfyUI {host.version} has no --fp16-intermediates")
    run_workflow(host, host_models, tmp_path, "levitor_basic_move_with_depth", "--fp16-intermediates")


def run_workflow(host, host_models, tmp_path, name, *main_args):
    api = json.loads((WORKFLOWS / f"{name}_api.json").read_text())
    workflow = tmp_path / "workflow_fast_api.json"
    workflow.write_text(json.dumps(fast_variant(api)))
    image = tmp_path / "levitor_demo.png"
    shutil.copy(REPO / "levitor" / "assets" / "demo" / "image.png", image)
    result = tmp_path / "result.json"
    work = tmp_path / "work"
    cmd = [sys.executable, str(RUNNER), "--comfy-dir", host.comfy_dir, "--python", host.python,
           "--node-package", str(PACK), "--workflow", str(workflow), "--copy-input", str(image),
           "--disable-core-custom-nodes", "--expect-files", "1", "--timeout", "900", "--json-out", str(result),
           "--work-dir", str(work)]
    for key in ("checkpoints", "diffusers", "levitor", "sams", "depthanything"):
        cmd += ["--model-dir", key, str(host_models / key)]
    for arg in main_args:
        cmd += [f"--extra-arg={arg}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (
        f"run_workflow.py exited {proc.returncode} for {name}\n--- stdout\n{proc.stdout[-6000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")
    log = (work / "comfyui.log").read_text(errors="replace")
    assert f"seconds: {work / 'custom_nodes' / PACK.name}" in log, "the pack was not imported"
    # the one line a host without core's TRACKS type logs on purpose (the Wan-Move tracks node is left out)
    assert [line for line in pack_log_lines(log) if "LeviTorWanMoveTracks is not available" not in line] == []


#: loads the pack the way ComfyUI's startup does and reports how each of its nodes registered
REGISTRY_CHECK = """
import asyncio, json, logging, sys
seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append([record.levelname, record.getMessage()])
logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.INFO)
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import nodes
from comfy_api.latest import io
before = set(nodes.NODE_CLASS_MAPPINGS)
loaded = asyncio.run(nodes.load_custom_node(sys.argv_pack))
new = {k: v for k, v in nodes.NODE_CLASS_MAPPINGS.items() if k not in before}
from comfy_config import config_parser
cfg = config_parser.extract_node_configuration(sys.argv_pack)
registry = {"name": cfg.project.name, "os": cfg.project.supported_os, "gpu": cfg.project.supported_accelerators,
            "comfyui": cfg.project.supported_comfyui_version, "publisher": cfg.tool_comfy.publisher_id,
            "icon": cfg.tool_comfy.icon, "repository": cfg.project.urls.repository}
print("RESULT " + json.dumps({"loaded": loaded, "registry": registry, "tracks_type": hasattr(io, "Tracks"),
                              "v3": {k: issubclass(v, io.ComfyNode) for k, v in new.items()},
                              "display": {k: nodes.NODE_DISPLAY_NAME_MAPPINGS.get(k) for k in new},
                              "log": seen}))
"""


def test_every_node_registers_through_v3_without_warnings(host):
    code = f"import sys; sys.argv_pack = {str(PACK)!r}\n" + REGISTRY_CHECK
    proc = subprocess.run([host.python, "-c", code], cwd=host.comfy_dir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["loaded"] is True
    # the Wan-Move tracks node needs core's TRACKS type (ComfyUI releases with the Wan-Move nodes)
    expected = NODE_IDS if result["tracks_type"] else [k for k in NODE_IDS if k != "LeviTorWanMoveTracks"]
    assert sorted(result["v3"]) == expected and all(result["v3"].values()), result["v3"]
    defs = json.loads((REPO / "locales" / "en" / "nodeDefs.json").read_text())
    assert result["display"] == {k: defs[k]["display_name"] for k in expected}
    if not result["tracks_type"]:  # one line says why it is missing
        why = [m for level, m in result["log"] if "LeviTorWanMoveTracks is not available" in m]
        assert len(why) == 1 and "update ComfyUI" in why[0], result["log"]
    warnings = [m for level, m in result["log"] if level in ("WARNING", "ERROR", "CRITICAL")]
    assert warnings == [], warnings
    # ComfyUI's own reader of pyproject.toml ([tool.comfy], classifiers) accepts the metadata
    reg = result["registry"]
    assert reg["name"] == "levitor" and reg["publisher"] and reg["icon"].startswith("https://")
    assert reg["os"] and set(reg["gpu"]) == {"GPU :: NVIDIA CUDA", "GPU :: Apple Metal"}
    assert reg["comfyui"].startswith(">=") and reg["repository"].startswith("https://")


FRONTEND = Path(os.environ.get("LEVITOR_HOST_TOOLS", "")) / "frontend.py"
UI_WORKFLOWS = sorted((REPO / "example_workflows").glob("levitor_*.json"))
#: where each kind of UI workflow keeps its API twin under tests/workflows
TWIN_FOLDERS = (("_native", "native"), ("levitor_wan_", "wan"), ("levitor_warp_", "warp"))


def twin_of(ui: Path) -> Path:
    folder = next((f for mark, f in TWIN_FOLDERS if ui.stem.endswith(mark) or ui.stem.startswith(mark)), "")
    return WORKFLOWS / folder / f"{ui.stem}_api.json"



@pytest.mark.browser
def test_the_real_frontend_turns_the_saved_ui_workflows_into_the_same_prompts(host, host_models, tmp_path):
    """The UI-format example workflows (saved with earlier versions of the pack) load in the real
    frontend on the V3 nodes and give the prompts they always gave; the only change is the loader's
    later optional input, filled with its default."""
    import socket
    import time
    import urllib.request

    pytest.importorskip("selenium")
    if not (FRONTEND.is_file() and shutil.which("chromedriver")):
        pytest.skip("needs the host tools' frontend.py, Chromium and chromedriver")
    # the Wan workflows need core's Wan-Move nodes, which hosts without the TRACKS type lack
    workflows = [ui for ui in UI_WORKFLOWS if has_tracks(host) or not ui.stem.startswith("levitor_wan_")]
    work = tmp_path / "work"
    for d in ("custom_nodes", "output", "input", "temp", "user"):
        (work / d).mkdir(parents=True)
    (work / "custom_nodes" / PACK.name).symlink_to(PACK, target_is_directory=True)
    lines = ["host:", f"  custom_nodes: {work / 'custom_nodes'}"]
    lines += [f"  {key}: {host_models / key}" for key in ("checkpoints", "diffusers", "levitor", "sams", "depthanything")]
    (work / "extra.yaml").write_text("\n".join(lines) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [host.python, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--cpu", "--disable-api-nodes",
           "--disable-auto-launch", "--database-url", "sqlite:///:memory:",
           "--extra-model-paths-config", str(work / "extra.yaml"), "--disable-all-custom-nodes",
           "--whitelist-custom-nodes", PACK.name]
    for d in ("output", "input", "temp", "user"):
        cmd += [f"--{d}-directory", str(work / d)]
    with open(work / "log.txt", "w") as log:
        server = subprocess.Popen(cmd, cwd=host.comfy_dir, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/system_stats", timeout=2)
                break
            except OSError:
                time.sleep(1)
        args = []
        for ui in workflows:
            args += ["--convert", str(ui), str(tmp_path / f"{ui.stem}_api.json")]
        proc = subprocess.run([sys.executable, str(FRONTEND), "--url", url, *args], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        server.terminate()
        server.wait(60)
    for ui in workflows:
        got = json.loads((tmp_path / f"{ui.stem}_api.json").read_text())
        want = json.loads(twin_of(ui).read_text())
        for node in [*got.values(), *want.values()]:
            node.pop("_meta", None)  # the node titles the frontend adds
        for node in got.values():
            if node["class_type"] == "LoadLeviTorModel":
                assert node["inputs"].pop("temporal_context") == "reference"
        assert got == want, ui.name
