"""Conversions between ComfyUI tensors and the core library's NumPy conventions.

ComfyUI: IMAGE is a float tensor ``[B, H, W, C]`` in 0..1, MASK a float tensor ``[B, H, W]``
(sometimes ``[H, W]``) in 0..1. The core library: image ``(H, W, 3)`` uint8, masks ``(H, W)``
bool, depth ``(H, W)`` reference depth (``1 / d8``, smaller = nearer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().to("cpu")
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def image_to_numpy(image: Any, *, name: str = "image", index: int = 0) -> np.ndarray:
    """One item of an IMAGE batch as ``(H, W, 3)`` uint8 RGB."""
    arr = _to_numpy(image)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name} must be an IMAGE [B, H, W, C] with C = 1, 3 or 4, got shape {tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch; connect an image")
    if index >= arr.shape[0]:
        raise ValueError(f"{name} has {arr.shape[0]} images; index {index} does not exist")
    img = arr[index].astype(np.float32)
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    img = img[..., :3]
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def numpy_to_image(frames: np.ndarray) -> Any:
    """``(H, W, 3)`` or ``(F, H, W, 3)`` uint8 (or float 0..1) → IMAGE ``[B, H, W, 3]`` float32 0..1."""
    import torch

    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        out = np.clip(arr.astype(np.float32), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(out))


def _resize_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = np.minimum((np.arange(height) + 0.5) * mask.shape[0] / height, mask.shape[0] - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) * mask.shape[1] / width, mask.shape[1] - 1).astype(np.int64)
    return mask[rows[:, None], cols[None, :]]


def _check_aspect(src_h: int, src_w: int, height: int, width: int, name: str) -> None:
    if abs(src_w / src_h - width / height) > 0.02 * (width / height):
        raise ValueError(
            f"{name} is {src_w}x{src_h} but the image is {width}x{height} with another aspect ratio; "
            "compute it from the same (resized) image"
        )


def masks_to_list(mask: Any, *, name: str = "mask", size: tuple[int, int] | None = None,
                  threshold: float = 0.5) -> list[np.ndarray]:
    """A MASK ``[B, H, W]`` (or ``[H, W]``) as a list of ``(H, W)`` bool masks.

    ``size`` is ``(height, width)`` of the planning image: masks of another size with the same
    aspect ratio are resized (nearest), others are rejected with an error naming ``name``.
    """
    arr = _to_numpy(mask)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a MASK [B, H, W], got shape {tuple(arr.shape)}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    out = []
    for m in arr:
        b = m > threshold
        if size is not None and b.shape != tuple(size):
            _check_aspect(b.shape[0], b.shape[1], size[0], size[1], name)
            b = _resize_nearest(b, size[0], size[1])
        out.append(b)
    return out


def masks_to_tensor(masks: Sequence[np.ndarray], height: int, width: int) -> Any:
    """A list of ``(H, W)`` bool masks → MASK ``[B, H, W]`` float32 (one empty mask for none)."""
    import torch

    if len(masks) == 0:
        return torch.zeros((1, height, width), dtype=torch.float32)
    return torch.from_numpy(np.stack([np.asarray(m, dtype=np.float32) for m in masks]))


def _resize_bilinear(values: np.ndarray, height: int, width: int) -> np.ndarray:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    out = torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def depth_image_to_disparity(depth: Any, *, name: str = "depth", size: tuple[int, int] | None = None) -> np.ndarray:
    """A depth IMAGE (grayscale disparity, near = bright) as an ``(H, W)`` float32 disparity map.

    Takes the first batch item and averages the colour channels. When ``size`` ``(height,
    width)`` differs, the map is resized (bilinear); another aspect ratio is an error.
    """
    arr = _to_numpy(depth)
    if arr.ndim == 2:
        arr = arr[None, ..., None]
    elif arr.ndim == 3:
        arr = arr[..., None] if arr.shape[-1] not in (1, 3, 4) else arr[None]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a depth IMAGE [B, H, W, C] (near = bright), got shape {tuple(arr.shape)}")
    d = arr[0].astype(np.float32)
    d = d[..., :3].mean(axis=-1) if d.shape[-1] > 1 else d[..., 0]
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if size is not None and d.shape != tuple(size):
        _check_aspect(d.shape[0], d.shape[1], size[0], size[1], name)
        d = _resize_bilinear(d, size[0], size[1])
    return d


def depth_image_to_reference(depth: Any, *, name: str = "depth", size: tuple[int, int] | None = None) -> np.ndarray:
    """A depth IMAGE (near = bright) → reference depth ``(H, W)`` float64 (``1 / d8``)."""
    from levitor.planning.scene import disparity_to_depth

    return disparity_to_depth(depth_image_to_disparity(depth, name=name, size=size))


def fit_image(image: np.ndarray, height: int, width: int, mode: str, *, name: str = "image") -> np.ndarray:
    """Bring ``image`` ``(H, W, 3)`` uint8 to ``height`` × ``width``.

    ``mode``: ``"error"`` (sizes must match), ``"resize"`` (stretch, may distort),
    ``"center crop"`` (scale to cover, then crop the middle; keeps the aspect ratio).
    """
    from PIL import Image

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if mode == "error":
        raise ValueError(
            f"{name} is {w}x{h} but the control maps are {width}x{height}; use the image the trajectories were "
            "planned on, or set image_fit to 'resize' or 'center crop'"
        )
    pil = Image.fromarray(image)
    if mode == "resize":
        return np.asarray(pil.resize((width, height), Image.BILINEAR))
    if mode == "center crop":
        scale = max(width / w, height / h)
        new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
        pil = pil.resize((new_w, new_h), Image.BILINEAR)
        left, top = (new_w - width) // 2, (new_h - height) // 2
        return np.asarray(pil.crop((left, top, left + width, top + height)))
    raise ValueError(f"image_fit must be 'error', 'resize' or 'center crop', got {mode!r}")
