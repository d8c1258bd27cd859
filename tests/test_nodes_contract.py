"""Every node declares its interface the way ComfyUI reads it: inputs with tooltips, outputs
with names and tooltips, a description, and the fixed type names."""

from __future__ import annotations

import pytest

from fakes.comfy_host import fake_host, pack  # noqa: F401  (fixtures)

EXPECTED = {
    "LoadLeviTorModel", "LeviTorSAMMaskPicker", "LeviTorSceneSegments", "LeviTorDepthAnything",
    "LeviTorTrajectory3DEditor", "LeviTorRenderMovedMasks", "LeviTorKMeansControlPoints", "LeviTorSampler",
}
SOCKETS = {"LEVITOR_MODEL", "LEVITOR_TRACKS", "LEVITOR_MASKS", "LEVITOR_CONTROL"}


def test_mappings_name_every_node(pack):
    assert set(pack.NODE_CLASS_MAPPINGS) == EXPECTED
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == EXPECTED
    assert pack.WEB_DIRECTORY == "./web"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_node_interface(pack, key):
    cls = pack.NODE_CLASS_MAPPINGS[key]
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    assert spec["required"], "every node needs inputs"
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind = entry[0]
            assert isinstance(kind, (str, list)), (key, name)
            if isinstance(kind, list):
                assert kind and all(isinstance(c, str) for c in kind), (key, name)
            opts = entry[1] if len(entry) > 1 else {}
            assert opts.get("tooltip"), f"{key}.{name} has no tooltip"
            if "default" in opts and isinstance(kind, list):
                assert opts["default"] in kind, (key, name)
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 40
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(cls.OUTPUT_TOOLTIPS)
    assert callable(getattr(cls(), cls.FUNCTION))
    assert cls.CATEGORY == "LeviTor"
    for t in cls.RETURN_TYPES:
        assert t in SOCKETS or t in {"IMAGE", "MASK", "STRING"}


def test_widget_names_fixed_by_the_web_editors(pack):
    editor = pack.NODE_CLASS_MAPPINGS["LeviTorTrajectory3DEditor"].INPUT_TYPES()
    assert editor["required"]["tracks_json"][0] == "STRING"
    assert editor["hidden"]["unique_id"] == "UNIQUE_ID"
    picker = pack.NODE_CLASS_MAPPINGS["LeviTorSAMMaskPicker"].INPUT_TYPES()
    assert picker["required"]["points_json"][0] == "STRING"


def test_socket_types_connect(pack):
    m = pack.NODE_CLASS_MAPPINGS
    assert m["LoadLeviTorModel"].RETURN_TYPES == ("LEVITOR_MODEL",)
    assert m["LeviTorTrajectory3DEditor"].RETURN_TYPES[0] == "LEVITOR_TRACKS"
    assert m["LeviTorRenderMovedMasks"].INPUT_TYPES()["required"]["tracks"][0] == "LEVITOR_TRACKS"
    assert m["LeviTorRenderMovedMasks"].RETURN_TYPES[0] == "LEVITOR_MASKS"
    assert m["LeviTorKMeansControlPoints"].INPUT_TYPES()["required"]["moved_masks"][0] == "LEVITOR_MASKS"
    assert m["LeviTorKMeansControlPoints"].RETURN_TYPES[0] == "LEVITOR_CONTROL"
    req = m["LeviTorSampler"].INPUT_TYPES()["required"]
    assert req["control"][0] == "LEVITOR_CONTROL" and req["levitor_model"][0] == "LEVITOR_MODEL"
    assert req["seed"][1]["default"] == 217 and req["steps"][1]["default"] == 25


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_help_page_lists_every_input_and_output(pack, key):
    from fakes.comfy_host import REPO_ROOT

    page = (REPO_ROOT / "web" / "docs" / f"{key}.md").read_text()
    cls = pack.NODE_CLASS_MAPPINGS[key]
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name in spec.get(section, {}):
            assert f"`{name}`" in page, f"{key} help page does not describe {name}"
    for name in cls.RETURN_NAMES:
        assert f"`{name}`" in page, f"{key} help page does not describe output {name}"
