import numpy as np
import pytest

from conftest import box
from levitor.planning.scene import (
    build_label_map,
    depth_to_disparity8,
    disparity8_to_depth,
    disparity_to_depth,
    disparity_to_uint8,
    make_scene,
)


def test_disparity_to_reference_depth():
    disp = np.array([[0.0, 1.0], [2.0, 2.0]], dtype=np.float32)
    d = disparity_to_depth(disp)
    # d8 = uint8(255 * (D - min) / (max - min)) = [0, 127, 255, 255]; depth = 1/d8, 0 -> 1.0.
    np.testing.assert_array_equal(d, [[1.0, 1 / 127], [1 / 255, 1 / 255]])
    assert d.dtype == np.float64
    assert np.all(disparity_to_depth(np.full((3, 3), 7.0)) == 1.0)  # no relative depth
    np.testing.assert_array_equal(disparity8_to_depth(np.array([0, 1, 2, 255], np.uint8)), [1.0, 1.0, 0.5, 1 / 255])
    np.testing.assert_array_equal(depth_to_disparity8(disparity8_to_depth(np.arange(1, 256, dtype=np.uint8))),
                                  np.arange(1, 256))
    with pytest.raises(ValueError, match="NaN"):
        disparity_to_depth(np.array([[np.nan, 1.0]]))
    # The 8-bit step alone, as the reference computes it: the minimum is 0, a constant map 0 everywhere.
    np.testing.assert_array_equal(disparity_to_uint8(disp), [[0, 127], [255, 255]])
    np.testing.assert_array_equal(disparity_to_uint8(np.full((2, 3), 7.0)), np.zeros((2, 3), np.uint8))
    # An RGB depth image (near = bright) is averaged to grey.
    rgb = np.repeat(disp[..., None], 3, axis=-1)
    np.testing.assert_array_equal(disparity_to_depth(rgb), d)


SHAPE = (100, 100)  # threshold 0.001 * H * W = 10 pixels


def test_user_masks_first_then_static_reversed():
    a = box(SHAPE, 0, 10, 0, 10)
    s0 = box(SHAPE, 50, 60, 50, 60)
    s1 = box(SHAPE, 80, 90, 80, 90)
    labels = build_label_map([a], [s0, s1])
    assert labels[5, 5] == 1
    assert labels[85, 85] == 2  # the last automatic mask is processed first
    assert labels[55, 55] == 3


def test_static_never_takes_user_pixels_and_overlap_rule():
    user = box(SHAPE, 0, 20, 0, 20)
    big_static = box(SHAPE, 0, 40, 0, 40)  # covers the user object
    labels = build_label_map([user], [big_static])
    assert np.all(labels[:20, :20] == 1) and labels[30, 30] == 2
    # A later, larger static candidate wins an overlap against a smaller placed label...
    small = box(SHAPE, 50, 60, 50, 60)
    large = box(SHAPE, 50, 80, 50, 80)
    lab = build_label_map([], [large, small])  # processed: small (label 1), then large (label 2)
    assert np.all(lab[50:80, 50:80] == 2) and not (lab == 1).any()
    # ...and a smaller later candidate loses the overlap.
    lab = build_label_map([], [small, large])  # processed: large (1), then small (2)
    assert np.all(lab[50:80, 50:80] == 1) and not (lab == 2).any()


def test_user_masks_obey_the_overlap_rule_too():
    first = box(SHAPE, 0, 10, 0, 10)
    second = box(SHAPE, 0, 30, 0, 30)  # larger: takes the overlap from object 0
    labels = build_label_map([first, second], [])
    assert not (labels == 1).any() and np.all(labels[:30, :30] == 2)


def test_small_regions_are_dropped_and_labels_keep_gaps():
    tiny = box(SHAPE, 0, 2, 0, 5)  # 10 px: not more than the threshold
    s = box(SHAPE, 40, 50, 40, 50)
    labels = build_label_map([], [s, tiny])
    assert set(np.unique(labels)) == {0, 2}  # label 1 (tiny) rejected: a gap
    # A region reduced to the threshold after later overlaps is dropped at the end.
    a = box(SHAPE, 0, 4, 0, 10)  # 40 px
    b = box(SHAPE, 0, 3, 0, 20)  # 60 px, takes 30 px of a -> a keeps 10 px
    labels = build_label_map([], [b, a])
    assert set(np.unique(labels)) == {0, 2}


def test_uint8_wrap_reproduces_reference_arithmetic():
    cand = [np.zeros(SHAPE, bool)] * 255 + [box(SHAPE, 0, 5, 0, 5), box(SHAPE, 10, 15, 10, 15)]
    # As user masks the candidates keep their order: index 255 -> label 256, index 256 -> label 257.
    plain = build_label_map(cand, [], shape=SHAPE, min_area_frac=0.0)
    assert plain[2, 2] == 256 and plain[12, 12] == 257
    wrapped = build_label_map(cand, [], shape=SHAPE, min_area_frac=0.0, reference_uint8_wrap=True)
    assert wrapped[2, 2] == 0 and wrapped[12, 12] == 1  # 256 wraps to 0 (dropped), 257 to 1


def test_make_scene_validates_inputs(small_scene):
    s = small_scene
    scene = make_scene(s["image"], s["depth"], s["object_masks"], s["static_masks"])
    assert scene.num_objects == 1 and scene.labels.dtype == np.int32 and scene.height == 64 and scene.width == 48
    with pytest.raises(ValueError, match=r"object_masks\[0\] is 10x10 but the image is 48x64"):
        make_scene(s["image"], s["depth"], [np.ones((10, 10), bool)])
    with pytest.raises(ValueError, match=r"object_masks\[1\] is empty"):
        make_scene(s["image"], s["depth"], [s["object_masks"][0], np.zeros((64, 48), bool)])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        make_scene(s["image"], s["depth"] * 300, s["object_masks"])
    bad = s["depth"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make_scene(s["image"], bad, s["object_masks"])
    with pytest.raises(ValueError, match="depth is 10x10"):
        make_scene(s["image"], np.ones((10, 10)), s["object_masks"])
    with pytest.raises(ValueError, match=r"static_masks\[0\]"):
        make_scene(s["image"], s["depth"], s["object_masks"], [np.ones((3, 3), bool)])
    with pytest.raises(ValueError, match="image must be"):
        make_scene(np.zeros((64, 48, 5), np.uint8), s["depth"], s["object_masks"])
