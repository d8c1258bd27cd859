"""Tensor conventions between ComfyUI (IMAGE [B,H,W,C] 0..1, MASK [B,H,W]) and the core library."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakes.comfy_host import fake_host, pack  # noqa: F401  (fixtures)


@pytest.fixture
def convert(pack):
    return pack.nodes.convert


def test_image_roundtrip(convert):
    arr = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    image = convert.numpy_to_image(arr)
    assert image.shape == (2, 5, 7, 3) and image.dtype == torch.float32 and float(image.max()) <= 1.0
    assert np.array_equal(convert.image_to_numpy(image, index=1), arr[1])
    gray = torch.full((1, 4, 4, 1), 0.5)
    assert convert.image_to_numpy(gray).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="image has 2 images; index 2"):
        convert.image_to_numpy(image, index=2)
    with pytest.raises(ValueError, match="my_input must be an IMAGE"):
        convert.image_to_numpy(torch.zeros(4, 4), name="my_input")


def test_masks_threshold_resize_and_aspect(convert):
    mask = torch.zeros(2, 4, 6)
    mask[0, 1:3, 2:4] = 0.8
    mask[1, 0, 0] = 0.4
    out = convert.masks_to_list(mask)
    assert [m.dtype for m in out] == [bool, bool] and out[0].sum() == 4 and out[1].sum() == 0
    big = convert.masks_to_list(mask, size=(8, 12))
    assert big[0].shape == (8, 12) and big[0].sum() == 16
    assert convert.masks_to_list(mask[0], size=(4, 6))[0].shape == (4, 6)  # a single [H, W] mask
    with pytest.raises(ValueError, match="object_masks is 6x4 but the image is 6x6"):
        convert.masks_to_list(mask, name="object_masks", size=(6, 6))
    back = convert.masks_to_tensor(out, 4, 6)
    assert back.shape == (2, 4, 6) and back.dtype == torch.float32
    assert convert.masks_to_tensor([], 4, 6).shape == (1, 4, 6)


def test_depth_image_conventions(convert):
    from levitor.planning.scene import disparity_to_depth

    disp = torch.linspace(0, 1, 12).reshape(1, 3, 4, 1).repeat(1, 1, 1, 3)
    d = convert.depth_image_to_disparity(disp)
    assert d.shape == (3, 4) and np.isclose(d[-1, -1], 1.0)
    ref = convert.depth_image_to_reference(disp)
    assert np.array_equal(ref, disparity_to_depth(d))
    assert ref[-1, -1] == 1 / 255 and ref[0, 0] == 1.0  # bright = near = small reference depth
    assert convert.depth_image_to_disparity(disp, size=(6, 8)).shape == (6, 8)


def test_fit_image_modes(convert):
    img = np.zeros((60, 80, 3), dtype=np.uint8)
    img[:, :10] = 255  # a white stripe on the left edge
    with pytest.raises(ValueError, match="image is 80x60 but the control maps are 48x64"):
        convert.fit_image(img, 64, 48, "error")
    stretched = convert.fit_image(img, 64, 48, "resize")
    cropped = convert.fit_image(img, 64, 48, "center crop")
    assert stretched.shape == cropped.shape == (64, 48, 3)
    assert stretched[:, 0].min() > 200  # the stripe survives a stretch
    assert cropped[:, 0].max() < 50  # and is cut away by a centre crop
    assert convert.fit_image(img, 60, 80, "error") is img
    with pytest.raises(ValueError, match="image_fit"):
        convert.fit_image(img, 64, 48, "squash")
