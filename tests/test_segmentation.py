"""segment-anything wrapper: tensor-only loading of a tiny random SAM, point prompts, automatic masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fakes.tiny_sam import TINY_SAM as TINY
from fakes.tiny_sam import save_tiny_sam
from levitor.perception.segmentation import SamSegmenter, choose_mask_index, infer_sam_config, load_sam, parse_points


@pytest.fixture(scope="module")
def tiny_sam_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sams") / "sam_tiny.pth"
    return path, save_tiny_sam(path)


class _Evil:
    """An arbitrary object: a checkpoint holding one must not be unpickled."""


def _image(h=40, w=56):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[10:30, 10:30] = 255
    return img


def test_config_is_read_back_from_the_state_dict(tiny_sam_file):
    _, state = tiny_sam_file
    assert infer_sam_config(state) == TINY
    assert TINY.registry_name is None


def test_published_sizes_map_to_the_registry():
    from segment_anything import sam_model_registry

    sam = sam_model_registry["vit_b"]()
    assert infer_sam_config(sam.state_dict()).registry_name == "vit_b"


def test_load_roundtrip_pth_and_safetensors(tiny_sam_file, tmp_path):
    from safetensors.torch import save_file

    path, state = tiny_sam_file
    sam = load_sam(path)
    for k, v in sam.state_dict().items():
        assert torch.equal(v, state[k]), k
    st = tmp_path / "sam_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    sam2 = load_sam(st)
    assert torch.equal(sam2.image_encoder.pos_embed, state["image_encoder.pos_embed"])


def test_load_rejects_non_sam_and_pickled_objects(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not a segment-anything checkpoint"):
        load_sam(bad)

    evil = tmp_path / "evil.pth"
    torch.save({"x": _Evil()}, evil)
    with pytest.raises(ValueError, match="tensor-only"):
        load_sam(evil)
    with pytest.raises(ValueError, match="does not exist"):
        load_sam(tmp_path / "missing.pth")


def test_point_prediction_contract(tiny_sam_file):
    seg = SamSegmenter.from_pretrained(tiny_sam_file[0])
    img = _image()
    pred = seg.predict_points(img, [(20.0, 20.0, 1), (50.0, 5.0, 0)])
    assert pred.masks.shape == (3, 40, 56) and pred.masks.dtype == bool
    assert pred.mask.shape == (40, 56) and pred.index == 1
    assert np.array_equal(pred.mask, pred.masks[1])
    best = seg.predict_points(img, [(20.0, 20.0, 1), (50.0, 5.0, 0)], choice="best score")
    assert best.index == int(np.argmax(best.scores))
    assert np.array_equal(best.masks, pred.masks)  # same image embedding, same prompts
    with pytest.raises(ValueError, match="multimask_output"):
        seg.predict_points(img, [(1.0, 1.0, 1)], choice="3")


def test_automatic_masks_in_generator_order(tiny_sam_file):
    seg = SamSegmenter.from_pretrained(tiny_sam_file[0])
    segs = seg.automatic_masks(_image(), points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                               box_nms_thresh=1.0)
    assert segs, "with thresholds off the generator keeps masks"
    ious = [s.predicted_iou for s in segs]
    assert ious == sorted(ious, reverse=True)
    for s in segs:
        assert s.mask.shape == (40, 56) and s.mask.dtype == bool and s.area == int(s.mask.sum())
    none = seg.automatic_masks(_image(), points_per_side=2, pred_iou_thresh=1.0)
    assert none == []


def test_parse_points_formats():
    ours = {"format": "levitor-points", "version": 1, "image_size": [100, 50],
            "points": [{"x": 10, "y": 20, "label": 1}, {"x": 40, "y": 30, "label": 0}]}
    assert parse_points(json.dumps(ours), image_size=(200, 100)) == [[(20.0, 40.0, 1), (80.0, 60.0, 0)]]
    objs = {"objects": [{"points": [[1, 2, 1]]}, {"points": [[3, 4, 1], [5, 6, 0]]}]}
    assert parse_points(objs) == [[(1.0, 2.0, 1)], [(3.0, 4.0, 1), (5.0, 6.0, 0)]]
    kj = json.dumps([{"x": 5, "y": 6}, {"x": 7, "y": 8}])
    assert parse_points(kj, negative=json.dumps([{"x": 1, "y": 1}])) == [[(5, 6, 1), (7, 8, 1), (1, 1, 0)]]
    assert parse_points(json.dumps([[{"x": 1, "y": 1}], [{"x": 2, "y": 2}]])) == [[(1, 1, 1)], [(2, 2, 1)]]


@pytest.mark.parametrize("data, match", [
    ("", "no points"),
    ('{"points": [{"x": 1, "y": 1, "label": 0}]}', "no positive point"),
    ('{"points": [{"x": 1, "y": 1, "label": 3}]}', "label must be 1"),
    ('{"points": [{"x": 1}]}', "needs 'x' and 'y'"),
    ("[1, 2", "not valid JSON"),
    ('{"format": "other"}', "format is 'other'"),
])
def test_parse_points_errors(data, match):
    with pytest.raises(ValueError, match=match):
        parse_points(data, name="points_json")


def test_choose_mask_index():
    scores = np.array([0.1, 0.2, 0.9])
    assert choose_mask_index(scores, "reference (index 1)") == 1
    assert choose_mask_index(scores, "best score") == 2
    assert choose_mask_index(scores, "0") == 0
