"""Every node is a V3 node and declares its interface the way ComfyUI reads it: the node ids,
input names, order and defaults saved workflows rely on, tooltips, output names and tooltips, a
description, a category, a display name and the fixed socket type names."""

from __future__ import annotations

import inspect

import pytest

from fakes import comfy_api
from fakes.comfy_host import REPO_ROOT, fake_host, node_map, pack  # noqa: F401  (fixtures)

#: node id -> display name
EXPECTED = {
    "LoadLeviTorModel": "Load LeviTor Model",
    "LeviTorSAMMaskPicker": "LeviTor SAM Mask Picker",
    "LeviTorSceneSegments": "LeviTor Scene Segments",
    "LeviTorDepthAnything": "LeviTor Depth Anything V2",
    "LeviTorTrajectory3DEditor": "LeviTor Trajectory 3D Editor",
    "LeviTorRenderMovedMasks": "LeviTor Render Moved Masks",
    "LeviTorKMeansControlPoints": "LeviTor K-Means Control Points",
    "LeviTorSampler": "LeviTor Sampler",
}
#: the native ComfyUI SVD path's nodes (new, so no saved-workflow contract yet)
NATIVE = {
    "LeviTorControlNetLoader": "Load LeviTor ControlNet",
    "LeviTorApplyControlNet": "Apply LeviTor ControlNet",
    "LeviTorSVDConditioning": "LeviTor SVD Conditioning",
}
#: the point-track nodes for ComfyUI's Wan nodes
WAN = {
    "LeviTorWanMoveTracks": "LeviTor Wan-Move Tracks",
    "LeviTorATITracks": "LeviTor ATI Tracks",
}
#: the warped video (new, so no saved-workflow contract yet)
WARP = {"LeviTorWarpedVideo": "LeviTor Warped Video"}
ALL = {**EXPECTED, **NATIVE, **WAN, **WARP}
SOCKETS = {"LEVITOR_MODEL", "LEVITOR_TRACKS", "LEVITOR_MASKS", "LEVITOR_CONTROL"}

#: the inputs of the V1 nodes (section, then order), which saved workflows name; new inputs may
#: only be appended as optional ones
V1_INPUTS = {
    "LoadLeviTorModel": (["svd_model", "controlnet", "precision", "offload"], ["svd_hub_id"]),
    "LeviTorSampler": (["levitor_model", "image", "control", "steps", "min_guidance", "max_guidance",
                        "motion_bucket_id", "fps", "noise_aug_strength", "control_scale", "seed",
                        "decode_chunk_size", "force_offload", "image_fit"], []),
    "LeviTorSAMMaskPicker": (["image", "sam_model", "points_json", "multimask_output"],
                             ["negative_coord_str", "masks_in"]),
    "LeviTorSceneSegments": (["image", "sam_model", "points_per_side", "pred_iou_thresh",
                              "stability_score_thresh"], ["box_nms_thresh", "min_mask_region_area"]),
    "LeviTorDepthAnything": (["image", "depth_model", "input_size", "swap_red_blue"], []),
    "LeviTorTrajectory3DEditor": (["image", "object_masks", "depth", "tracks_json"],
                                  ["coord_str", "depths", "static_segments"]),
    "LeviTorRenderMovedMasks": (["tracks", "num_frames", "camera_move"],
                                ["static_segments", "min_area_frac", "points_per_pixel", "base_radius",
                                 "splat_units", "reference_uint8_wrap"]),
    "LeviTorKMeansControlPoints": (["moved_masks", "ratio", "use_id", "use_depth"], ["radius", "safe_k"]),
}
#: the V1 defaults of every widget input (the reference's settings)
V1_DEFAULTS = {
    "LoadLeviTorModel": {"precision": "auto", "offload": "none", "svd_hub_id": ""},
    "LeviTorSampler": {"steps": 25, "min_guidance": 1.0, "max_guidance": 3.0, "motion_bucket_id": 100, "fps": 6,
                       "noise_aug_strength": 0.02, "control_scale": 1.0, "seed": 217, "decode_chunk_size": 0,
                       "force_offload": True, "image_fit": "error"},
    "LeviTorSAMMaskPicker": {"multimask_output": "reference (index 1)"},
    "LeviTorSceneSegments": {"points_per_side": 32, "pred_iou_thresh": 0.88, "stability_score_thresh": 0.95,
                             "box_nms_thresh": 0.7, "min_mask_region_area": 0},
    "LeviTorDepthAnything": {"input_size": 512, "swap_red_blue": True},
    "LeviTorTrajectory3DEditor": {"depths": ""},
    "LeviTorRenderMovedMasks": {"num_frames": 16, "camera_move": "off", "min_area_frac": 0.001,
                                "points_per_pixel": 10, "base_radius": 0.011, "splat_units": "pixels",
                                "reference_uint8_wrap": False},
    "LeviTorKMeansControlPoints": {"ratio": 1.0, "use_id": True, "use_depth": True, "radius": 10, "safe_k": True},
}
V1_OUTPUTS = {
    "LoadLeviTorModel": (("LEVITOR_MODEL",), ("levitor_model",)),
    "LeviTorSampler": (("IMAGE",), ("frames",)),
    "LeviTorSAMMaskPicker": (("MASK",), ("object_masks",)),
    "LeviTorSceneSegments": (("MASK",), ("static_segments",)),
    "LeviTorDepthAnything": (("IMAGE",), ("depth",)),
    "LeviTorTrajectory3DEditor": (("LEVITOR_TRACKS", "IMAGE", "STRING"), ("tracks", "preview", "depth_report")),
    "LeviTorRenderMovedMasks": (("LEVITOR_MASKS", "IMAGE"), ("moved_masks", "preview")),
    "LeviTorKMeansControlPoints": (("LEVITOR_CONTROL", "IMAGE"), ("control", "preview")),
}


def test_the_entrypoint_lists_every_node_once(pack):
    assert not hasattr(pack, "NODE_CLASS_MAPPINGS"), "a V1 mapping would make ComfyUI skip comfy_entrypoint"
    nodes = node_map(pack)
    assert set(nodes) == set(ALL)
    assert len(pack.nodes.node_classes()) == len(ALL)
    assert pack.WEB_DIRECTORY == "./web"


def check_node_basics(pack, key, display_names):
    """Checks every node passes: a V3 node under its display name in the LeviTor category, with a
    description, a tooltip on every input and output, and every input reaching ``execute`` under its
    own name. Returns ``(cls, schema, spec)``."""
    cls = node_map(pack)[key]
    assert issubclass(cls, comfy_api.ComfyNode)
    schema = cls.GET_SCHEMA()
    assert schema.display_name == display_names[key] and schema.category == "LeviTor"
    assert isinstance(schema.description, str) and len(schema.description) > 40
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, (_, opts) in spec.get(section, {}).items():
            assert opts.get("tooltip"), f"{key}.{name} has no tooltip"
    assert all(cls.OUTPUT_TOOLTIPS), f"{key} has an output without a tooltip"
    params = inspect.signature(cls.execute).parameters
    assert set(spec["required"]) | set(spec.get("optional", {})) == set(params)
    return cls, schema, spec


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_node_interface(pack, key):
    cls, schema, spec = check_node_basics(pack, key, EXPECTED)
    assert not schema.is_output_node
    required, optional = V1_INPUTS[key]
    assert list(spec["required"]) == required
    assert list(spec.get("optional", {}))[: len(optional)] == optional
    for section in ("required", "optional"):
        for name, (kind, opts) in spec.get(section, {}).items():
            assert isinstance(kind, str), (key, name)
            if kind == "COMBO":
                assert opts["options"] and all(isinstance(c, str) for c in opts["options"]), (key, name)
                if "default" in opts:
                    assert opts["default"] in opts["options"], (key, name)
            if "min" in opts and "default" in opts:
                assert opts["min"] <= opts["default"] <= opts["max"], (key, name)
    defaults = {name: opts["default"] for section in ("required", "optional")
                for name, (_, opts) in spec.get(section, {}).items() if "default" in opts}
    assert {k: defaults.get(k) for k in V1_DEFAULTS[key]} == V1_DEFAULTS[key]
    assert (cls.RETURN_TYPES, cls.RETURN_NAMES) == V1_OUTPUTS[key]
    for t in cls.RETURN_TYPES:
        assert t in SOCKETS or t in {"IMAGE", "MASK", "STRING"}


def test_widget_names_fixed_by_the_web_editors(pack):
    editor = node_map(pack)["LeviTorTrajectory3DEditor"].INPUT_TYPES()
    assert editor["required"]["tracks_json"][0] == "STRING"
    assert editor["hidden"]["unique_id"] == ("UNIQUE_ID",)
    picker = node_map(pack)["LeviTorSAMMaskPicker"].INPUT_TYPES()
    assert picker["required"]["points_json"][0] == "STRING"
    assert picker["hidden"]["unique_id"] == ("UNIQUE_ID",)


def test_socket_types_connect(pack):
    m = node_map(pack)
    assert m["LeviTorRenderMovedMasks"].INPUT_TYPES()["required"]["tracks"][0] == "LEVITOR_TRACKS"
    assert m["LeviTorKMeansControlPoints"].INPUT_TYPES()["required"]["moved_masks"][0] == "LEVITOR_MASKS"
    req = m["LeviTorSampler"].INPUT_TYPES()["required"]
    assert req["control"][0] == "LEVITOR_CONTROL" and req["levitor_model"][0] == "LEVITOR_MODEL"


def test_fixed_choices_are_validated_before_the_graph_runs(pack):
    m = node_map(pack)
    assert m["LeviTorSampler"].validate_inputs(image_fit="center crop") is True
    assert "image_fit must be one of" in m["LeviTorSampler"].validate_inputs(image_fit="stretch")
    assert "offload must be one of" in m["LoadLeviTorModel"].validate_inputs("auto", "disk")
    assert "camera_move must be one of" in m["LeviTorRenderMovedMasks"].validate_inputs("on")
    assert m["LeviTorRenderMovedMasks"].validate_inputs("off", None) is True  # a linked input is not known yet


@pytest.mark.parametrize("key", sorted(NATIVE))
def test_native_node_interface(pack, key):
    check_node_basics(pack, key, NATIVE)


WAN_INPUTS = {
    "LeviTorWanMoveTracks": ["tracks", "length", "width", "height", "camera_move", "points_per_object",
                             "static_points"],
    "LeviTorATITracks": ["tracks", "width", "height", "camera_move", "points_per_object", "static_points"],
}
WAN_OUTPUTS = {
    "LeviTorWanMoveTracks": (("TRACKS", "IMAGE"), ("tracks", "preview")),
    "LeviTorATITracks": (("STRING", "IMAGE"), ("tracks", "preview")),
}


@pytest.mark.parametrize("key", sorted(WAN))
def test_wan_node_interface(pack, key):
    cls, _, spec = check_node_basics(pack, key, WAN)
    assert list(spec["required"]) == WAN_INPUTS[key]
    assert list(spec["optional"]) == ["static_segments"]
    assert spec["required"]["tracks"][0] == "LEVITOR_TRACKS"
    assert (cls.RETURN_TYPES, cls.RETURN_NAMES) == WAN_OUTPUTS[key]
    assert spec["required"]["width"][1]["default"] == 832 and spec["required"]["height"][1]["default"] == 480
    if key == "LeviTorWanMoveTracks":
        assert spec["required"]["length"][1]["default"] == 81  # Wan's default length, 4k + 1
def test_warped_video_node_interface(pack):
    cls, schema, spec = check_node_basics(pack, "LeviTorWarpedVideo", WARP)
    assert list(spec["required"]) == ["moved_masks"] and not spec.get("optional")
    assert spec["required"]["moved_masks"][0] == "LEVITOR_MASKS"
    assert (cls.RETURN_TYPES, cls.RETURN_NAMES) == (("IMAGE", "MASK"), ("frames", "mask"))


@pytest.mark.parametrize("key", sorted(ALL))
def test_help_page_lists_every_input_and_output(pack, key):
    page = (REPO_ROOT / "web" / "docs" / f"{key}.md").read_text()
    cls = node_map(pack)[key]
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name in spec.get(section, {}):
            assert f"`{name}`" in page, f"{key} help page does not describe {name}"
    for name in cls.RETURN_NAMES:
        assert f"`{name}`" in page, f"{key} help page does not describe output {name}"


def test_locale_names_every_node_and_input(pack):
    import json
    import sys

    defs = json.loads((REPO_ROOT / "locales" / "en" / "nodeDefs.json").read_text())
    for key, cls in node_map(pack).items():
        entry = defs[key]
        assert entry["display_name"] == ALL[key] and entry["description"] == cls.DESCRIPTION
        spec = cls.INPUT_TYPES()
        names = [n for s in ("required", "optional") for n in spec.get(s, {})]
        assert list(entry["inputs"]) == names, key
        for name in names:
            section = "required" if name in spec["required"] else "optional"
            assert entry["inputs"][name] == {"name": name, "tooltip": spec[section][name][1]["tooltip"]}, (key, name)
        assert [o["name"] for o in entry["outputs"].values()] == list(cls.RETURN_NAMES)
        assert list(entry["outputs"]) == [str(i) for i in range(len(cls.RETURN_NAMES))]
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import make_locales

    assert make_locales.node_defs(pack.nodes.node_classes()) == defs, "run python tools/make_locales.py"
    main = json.loads((REPO_ROOT / "locales" / "en" / "main.json").read_text())
    assert main["nodeCategories"] == {"LeviTor": "LeviTor"}
