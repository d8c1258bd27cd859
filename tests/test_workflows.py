"""The example workflows: UI and API formats agree, thumbnails and model lists exist, and every
API-format workflow runs through our node classes (small stand-ins for the core nodes, tiny
random models) and produces frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakes.comfy_host import REPO_ROOT, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from fakes.workflow_models import fast_variant

UI_DIR = REPO_ROOT / "example_workflows"
API_DIR = REPO_ROOT / "tests" / "workflows"
#: the warped-video workflows (video-to-video graphs of core nodes; tests/test_warp_workflows.py)
WARP_NAMES = sorted(p.stem for p in UI_DIR.glob("levitor_warp_*.json"))
#: the wrapper workflows (the native ones, `*_native.json`, the Wan ones, `levitor_wan_*.json`, and the
#: warped-video ones have their own tests)
NAMES = sorted(p.stem for p in UI_DIR.glob("*.json")
               if p.name != "index.json" and not p.stem.endswith("_native") and p.stem not in WARP_NAMES
               and not p.stem.startswith("levitor_wan_"))
SOCKETS = {"IMAGE", "MASK", "LEVITOR_MODEL", "LEVITOR_TRACKS", "LEVITOR_MASKS", "LEVITOR_CONTROL"}
#: widget names of the core nodes the workflows use, in the order the frontend stores them
CORE_WIDGETS = {
    "LoadImage": ["image", "upload"],
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "PreviewImage": [],
}
FRONTEND_ONLY = {"upload", "control_after_generate"}
#: optional inputs added after the example workflows were saved
ADDED_LATER = {"temporal_context"}


def widget_names(pack, class_type):
    if class_type in CORE_WIDGETS:
        return CORE_WIDGETS[class_type]
    spec = node_map(pack)[class_type].INPUT_TYPES()
    names = []
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind, opts = entry[0], (entry[1] if len(entry) > 1 else {})
            if isinstance(kind, str) and (kind in SOCKETS or opts.get("forceInput")):
                continue
            names.append(name)
            if name == "seed":
                names.append("control_after_generate")
    return names


def ui_to_api(pack, ui):
    """The API prompt a UI-format workflow stands for (widgets by position, links by id)."""
    links = {link[0]: link for link in ui["links"]}
    api = {}
    for node in ui["nodes"]:
        names = widget_names(pack, node["type"])
        values = node.get("widgets_values", [])
        # a workflow saved before an optional input was added lacks its trailing value: the
        # frontend then keeps the input's default, as the backend does for an absent input
        missing = names[len(values):]
        assert len(values) <= len(names) and set(missing) <= ADDED_LATER, \
            f"{node['type']}: {len(values)} widget values for {names}"
        inputs = {n: v for n, v in zip(names, values) if n not in FRONTEND_ONLY}
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                _, src, slot, dst, _, _ = links[inp["link"]]
                assert dst == node["id"]
                inputs[inp["name"]] = [str(src), slot]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return api


def model_choices(pack, class_type: str, widget: str) -> list[str]:
    """What ComfyUI offers in a node's model combo: the options of our nodes' schemas (built when
    asked, from the files present), the host's file list for the core loaders."""
    import folder_paths

    core = {("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints"}
    if (class_type, widget) in core:
        return folder_paths.get_filename_list(core[(class_type, widget)])
    spec = node_map(pack)[class_type].INPUT_TYPES()
    for section in ("required", "optional"):
        if widget in spec.get(section, {}):
            kind, options = spec[section][widget][0], spec[section][widget][-1]
            return list(kind) if isinstance(kind, list) else list(options.get("options", []))
    raise AssertionError(f"{class_type} has no input {widget}")


def check_downloads_reach_their_nodes(pack, fake_host, ui) -> None:
    """Put every file of the workflow's ``models`` list where the missing-models dialog saves it
    (``models/<directory>/<name>``) and check that each node naming it offers it in its combo."""
    models = ui["models"]
    assert models, "the frontend offers these downloads"
    for m in models:
        assert m["url"].startswith("https://")  # saved as models/<directory>/<name>, whatever the URL calls it
        path = fake_host.models_dir / m["directory"] / m["name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    named = {}
    for node in ui["nodes"]:
        names = widget_names(pack, node["type"]) if node["type"] in CORE_WIDGETS or node["type"] in node_map(pack) \
            else NATIVE_MODEL_WIDGETS.get(node["type"], [])
        for widget, value in zip(names, node.get("widgets_values", [])):
            if isinstance(value, str) and value in {m["name"] for m in models}:
                named[value] = (node["type"], widget)
    assert set(named) == {m["name"] for m in models}, "every download is named by a node, and only those"
    for value, (class_type, widget) in named.items():
        assert value in model_choices(pack, class_type, widget), f"{class_type}.{widget} does not offer {value}"


#: model widgets of the core nodes the native workflows use
NATIVE_MODEL_WIDGETS = {"ImageOnlyCheckpointLoader": ["ckpt_name"]}


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_formats_agree(pack, name):
    assert (API_DIR / f"{name}_api.json").is_file(), "every example workflow has its API-format twin"
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    converted = ui_to_api(pack, ui)
    assert set(converted) == set(api)
    for nid, node in api.items():
        assert converted[nid]["class_type"] == node["class_type"], nid
        assert converted[nid]["inputs"] == node["inputs"], (nid, node["class_type"])
    # every input a node requires is given
    for nid, node in api.items():
        if node["class_type"] in CORE_WIDGETS:
            continue
        required = node_map(pack)[node["class_type"]].INPUT_TYPES()["required"]
        assert set(required) <= set(node["inputs"]), (nid, set(required) - set(node["inputs"]))


def test_index_titles_every_workflow():
    (module,) = json.loads((UI_DIR / "index.json").read_text())
    assert module["title"] and module["moduleName"]
    entries = module["templates"]
    assert sorted(e["name"] for e in entries) == sorted(p.stem for p in UI_DIR.glob("*.json") if p.name != "index.json")
    for e in entries:
        info = json.loads((UI_DIR / f"{e['name']}.json").read_text())["extra"]["info"]
        assert e["title"] and e["description"] == info["description"]
        assert (UI_DIR / f"{e['name']}.{e['mediaSubtype']}").is_file() and e["mediaType"] == "image"


@pytest.mark.parametrize("name", NAMES)
def test_downloaded_models_appear_in_their_nodes(pack, fake_host, name):
    """The models the template browser downloads land where the nodes look for them."""
    with Image.open(UI_DIR / f"{name}.jpg") as im:
        im.load()  # a thumbnail the browser can decode
    check_downloads_reach_their_nodes(pack, fake_host, json.loads((UI_DIR / f"{name}.json").read_text()))


# ----------------------------------------------------------------------------------------------
# walking the API workflows


class CoreStandIns:
    """Small versions of the core nodes the workflows use."""

    def __init__(self, input_image: np.ndarray, out_dir: Path):
        self.input_image = input_image
        self.out_dir = out_dir
        self.saved: list[Path] = []
        self.previews: list = []

    def LoadImage(self, image, **_):
        img = torch.from_numpy(self.input_image.astype(np.float32) / 255.0)[None]
        return img, torch.zeros(1, *self.input_image.shape[:2])

    def ImageScale(self, image, upscale_method, width, height, crop):
        arr = (image[0].numpy() * 255).round().astype(np.uint8)
        out = np.asarray(Image.fromarray(arr).resize((width, height), Image.LANCZOS))
        return (torch.from_numpy(out.astype(np.float32) / 255.0)[None],)

    def SaveAnimatedWEBP(self, images, filename_prefix, fps, lossless, quality, method):
        frames = [Image.fromarray((f.numpy() * 255).round().astype(np.uint8)) for f in images]
        path = self.out_dir / f"{filename_prefix}.webp"
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), lossless=lossless,
                       quality=quality)
        self.saved.append(path)
        return ()

    def PreviewImage(self, images):
        self.previews.append(images)
        return ()


def run_api_workflow(pack, api: dict, core: CoreStandIns) -> dict:
    """Execute an API prompt in dependency order; return every node's outputs."""
    done: dict[str, tuple] = {}
    nodes = node_map(pack)
    pending = dict(api)
    while pending:
        ready = [nid for nid, n in pending.items()
                 if all(v[0] in done for v in n["inputs"].values() if isinstance(v, list))]
        assert ready, f"cycle or missing node among {sorted(pending)}"
        for nid in sorted(ready, key=int):
            node = pending.pop(nid)
            kwargs = {k: (done[v[0]][v[1]] if isinstance(v, list) else v) for k, v in node["inputs"].items()}
            cls_name = node["class_type"]
            if cls_name in CORE_WIDGETS:
                out = getattr(core, cls_name)(**kwargs)
            else:
                cls = nodes[cls_name]
                out = run_node(cls, unique_id=nid, **kwargs).result
                assert len(out) == len(cls.RETURN_TYPES), cls_name
            done[nid] = out
    return done


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from fakes.workflow_models import write_workflow_models

    return write_workflow_models(tmp_path_factory.mktemp("models"))


#: occlusion and orbit differ from the basic workflow only in their tracks: walked with -m slow
SLOW_WALKS = {"levitor_occlusion", "levitor_orbit"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_WALKS else n for n in NAMES])
def test_api_workflow_runs_and_produces_frames(pack, fake_host, tiny_model_dir, tmp_path, name):
    from levitor.io.media import load_image

    fake_host.models_dir.rmdir()
    fake_host.models_dir.symlink_to(tiny_model_dir, target_is_directory=True)
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    image = load_image(REPO_ROOT / "levitor" / "assets" / "demo" / "image.png")
    core = CoreStandIns(image, tmp_path)
    try:
        outputs = run_api_workflow(pack, fast_variant(api), core)
    finally:
        pack.nodes.model_nodes.release_cached_model()
    sampler = next(nid for nid, n in api.items() if n["class_type"] == "LeviTorSampler")
    (frames,) = outputs[sampler]
    assert frames.shape == (4, 256, 144, 3) and frames.dtype == torch.float32
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert len(core.saved) == 1
    with Image.open(core.saved[0]) as im:
        assert getattr(im, "n_frames", 1) == 4
    control_node = next(nid for nid, n in api.items() if n["class_type"] == "LeviTorKMeansControlPoints")
    plan = outputs[control_node][0]
    assert plan.control.shape == (4, 3, 256, 144)
    n_tracks = len(json.loads(api["7"]["inputs"]["tracks_json"])["tracks"])
    camera = api["8"]["inputs"]["camera_move"] != "off"
    assert plan.scene.num_objects == n_tracks  # with camera move the background is the extra object
    assert not [w for w in plan.warnings if "enable camera_move" in w]  # every track is used
    n_masks = len(outputs[api["7"]["inputs"]["object_masks"][0]][0])
    assert n_masks == len(json.loads(api["7"]["inputs"]["tracks_json"])["tracks"]) - camera
