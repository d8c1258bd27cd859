"""Warnings for inputs that silently lose occlusion or motion: flat or photo-like depth, masks
that cover nothing or everything."""

import numpy as np

from levitor.planning.scene import depth_warnings, disparity8_to_depth, mask_warnings


def ramp_depth(h=32, w=24):
    d8 = np.tile(np.linspace(20, 220, h)[:, None], (1, w)).astype(np.uint8)
    return disparity8_to_depth(d8)


def test_good_depth_has_no_warning():
    assert depth_warnings(ramp_depth()) == []


def test_all_black_and_all_white_depth_are_constant():
    black = disparity8_to_depth(np.zeros((8, 8), np.uint8))
    white = disparity8_to_depth(np.full((8, 8), 255, np.uint8))
    for d in (black, white):
        assert depth_warnings(d, name="--depth d.png") == [
            "--depth d.png is constant: every pixel is at the same depth, so occlusion and perspective scaling "
            "are lost; check the depth map"]


def test_nearly_constant_depth():
    d8 = np.full((20, 20), 100, np.uint8)
    d8[::2] = 102  # 2% spread
    d8[0, 0] = 250  # a single outlier does not make it a depth map
    assert depth_warnings(disparity8_to_depth(d8)) == [
        "depth is nearly constant (99% of pixels within 5% of one depth), so occlusion and perspective scaling "
        "are mostly lost; check the depth map"]
    d8[::2] = 110  # 10% spread: fine
    assert depth_warnings(disparity8_to_depth(d8)) == []


def test_colour_photo_given_as_depth():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    grey = photo.mean(-1).astype(np.uint8)
    notes = depth_warnings(disparity8_to_depth(np.maximum(grey, 1)), source=photo)
    assert notes[0] == ("depth looks like a colour photo, not a depth map (its colour channels differ); give the "
                        "depth estimator's grey output (near = bright)")
    # a grey image saved as RGB is a fine depth map
    assert depth_warnings(ramp_depth(16, 16), source=np.repeat(grey[..., None], 3, -1)) == []


def test_the_image_itself_given_as_depth():
    image = np.tile(np.linspace(10, 250, 24)[None, :, None], (16, 1, 3)).astype(np.uint8)
    d8 = image[..., 0]
    notes = depth_warnings(disparity8_to_depth(d8), image)
    assert len(notes) == 1 and notes[0].startswith("depth looks like the image itself in grey (correlation 1.000)")
    assert depth_warnings(ramp_depth(16, 24), image) == []  # vertical ramp vs horizontal image


def test_masks_that_cover_nothing_or_everything():
    empty = np.zeros((10, 10), bool)
    full = np.ones((10, 10), bool)
    part = empty.copy()
    part[2:5, 2:5] = True
    assert mask_warnings([part]) == []
    assert mask_warnings([full], [empty, part], object_names=["ball.png"], static_names=["a.png", "b.png"]) == [
        "object mask ball.png covers the whole image (100.0% of the pixels); is it inverted?",
        "static mask a.png covers nothing (no selected pixel); check the file or select again",
    ]


def test_library_plan_reports_input_warnings_once_and_the_cli_names_the_flag_instead():
    """build_plan's warnings carry the input checks; a flat depth map is reported exactly once."""
    from levitor.planning.plan import build_plan

    h, w = 32, 48
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = 200
    mask = np.zeros((h, w), bool)
    mask[10:20, 10:20] = True
    plan = build_plan(image, np.full((h, w), 0.4), [mask], [], [[(15, 15, 0.4), (30, 15, 0.4)]], num_frames=2)
    flat = [note for note in plan.warnings if "depth is constant" in note]
    assert len(flat) == 1
    ramp = np.linspace(0.2, 1.0, w)[None, :].repeat(h, 0)
    plan = build_plan(image, ramp, [mask], [], [[(15, 15, 0.4), (30, 15, 0.4)]], num_frames=2)
    assert not [note for note in plan.warnings if "depth" in note]
