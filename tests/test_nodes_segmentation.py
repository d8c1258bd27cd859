"""LeviTorSAMMaskPicker and LeviTorSceneSegments with a tiny random SAM in the fake models/sams."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from fakes.comfy_host import InterruptProcessingException, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from fakes.tiny_sam import save_tiny_sam


@pytest.fixture
def sam_file(fake_host):
    save_tiny_sam(fake_host.models_dir / "sams" / "sam_tiny.pth")
    return "sam_tiny.pth"


def _image(h=40, w=56):
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, h, w, 3, generator=g)


def test_sam_checkpoints_are_listed(pack, sam_file):
    spec = node_map(pack)["LeviTorSAMMaskPicker"].INPUT_TYPES()["required"]
    assert spec["sam_model"][0] == "COMBO" and spec["sam_model"][1]["options"] == ["sam_tiny.pth"]
    assert spec["multimask_output"][1]["default"] == "reference (index 1)"


def test_picker_returns_one_mask_per_object_after_masks_in(pack, sam_file, fake_host):
    picker = node_map(pack)["LeviTorSAMMaskPicker"]
    points = {"format": "levitor-points", "version": 1,
              "objects": [{"points": [{"x": 10, "y": 10, "label": 1}]},
                          {"points": [{"x": 40, "y": 30, "label": 1}, {"x": 5, "y": 35, "label": 0}]}]}
    earlier = torch.zeros(1, 40, 56)
    earlier[0, :5, :5] = 1
    out = run_node(picker, _image(), sam_file, json.dumps(points), "reference (index 1)", masks_in=earlier,
                      unique_id="7")
    (masks,) = out.result
    assert masks.shape == (3, 40, 56) and masks.dtype == torch.float32
    # The click picker gets the image and the new objects' masks (grey value = object index + 1).
    (entry,) = out.ui["levitor_sam"]
    assert entry["width"] == 56 and entry["height"] == 40 and entry["node_id"] == "7"
    labels_png = os.path.join(fake_host.temp_dir, entry["labels"]["subfolder"], entry["labels"]["filename"])
    shown = np.asarray(Image.open(labels_png))
    new = masks[1:].numpy() > 0.5
    assert np.array_equal(shown > 0, new.any(axis=0)) and np.array_equal(shown == 1, new[0])
    assert np.all(new[1][shown == 2]) and entry["image"]["type"] == "temp"
    assert set(torch.unique(masks).tolist()) <= {0.0, 1.0}
    assert torch.equal(masks[0], earlier[0])
    # the node's mask is the core predictor's index-1 mask for the same clicks
    seg = pack.nodes.segmentation_nodes.load_segmenter(sam_file)
    img = pack.nodes.convert.image_to_numpy(_image())
    ref = seg.predict_points(img, [(40.0, 30.0, 1), (5.0, 35.0, 0)])
    assert np.array_equal(masks[2].numpy() > 0.5, ref.masks[1])
    assert ("new", 3) in fake_host.progress


def test_picker_reads_kjnodes_points_with_negatives(pack, sam_file):
    picker = node_map(pack)["LeviTorSAMMaskPicker"]
    (masks,) = run_node(picker, _image(), sam_file, json.dumps([{"x": 20, "y": 20}]), "best score",
                           negative_coord_str=json.dumps([{"x": 50, "y": 5}])).result
    assert masks.shape == (1, 40, 56)


def test_picker_is_cached_and_validates(pack, sam_file):
    nodes = pack.nodes.segmentation_nodes
    assert nodes.load_segmenter(sam_file) is nodes.load_segmenter(sam_file)
    picker = node_map(pack)["LeviTorSAMMaskPicker"]
    with pytest.raises(ValueError, match="points_json has no points"):
        run_node(picker, _image(), sam_file, '{"points": []}', "reference (index 1)")
    with pytest.raises(ValueError, match="sam_model: no SAM checkpoint found"):
        run_node(picker, _image(), nodes.NO_SAM, '[{"x": 1, "y": 1}]', "0")
    with pytest.raises(ValueError, match="masks_in is 10x10"):
        run_node(picker, _image(), sam_file, '[{"x": 1, "y": 1}]', "0", masks_in=torch.zeros(1, 10, 10))


def test_scene_segments_batch_and_cancel(pack, sam_file, fake_host):
    node = node_map(pack)["LeviTorSceneSegments"]
    (segs,) = run_node(node, _image(), sam_file, 4, 0.0, 0.0, box_nms_thresh=1.0)
    assert segs.ndim == 3 and segs.shape[1:] == (40, 56) and segs.shape[0] >= 1
    seg = pack.nodes.segmentation_nodes.load_segmenter(sam_file)
    ref = seg.automatic_masks(pack.nodes.convert.image_to_numpy(_image()), points_per_side=4, pred_iou_thresh=0.0,
                              stability_score_thresh=0.0, box_nms_thresh=1.0)
    assert segs.shape[0] == len(ref)
    assert all(np.array_equal(segs[i].numpy() > 0.5, r.mask) for i, r in enumerate(ref))
    (none,) = run_node(node, _image(), sam_file, 2, 1.0, 1.0)
    assert none.shape == (1, 40, 56) and float(none.max()) == 0.0
    fake_host.interrupted = True
    with pytest.raises(InterruptProcessingException):
        run_node(node, _image(), sam_file, 4, 0.0, 0.0)


def test_picker_validates_points_json_before_running(pack):
    cls = node_map(pack)["LeviTorSAMMaskPicker"]
    assert cls.validate_inputs('[{"x": 1, "y": 2}]') is True
    msg = cls.validate_inputs('{"points": [{"x": 1, "y": 2, "label": 0}]}')
    assert isinstance(msg, str) and "positive" in msg
