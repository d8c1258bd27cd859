"""The control maps the ControlNet reads: ``(F, 3, H, W)`` float32 per video.

Channel 0 is a heatmap: a Gaussian patch (values 0..255) around every keypoint; channel 1 the
keypoint's instance label and channel 2 its depth code, wherever its patch is non-zero. Values
are not normalised. Patches are written in keypoint order and *assigned*, so a later patch
overwrites an earlier one in its whole box, zero corners included. Boxes are clamped to
``[1, W-1) x [1, H-1)`` and the template is squeezed into a clamped box rather than cropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .options import REFERENCE_RADIUS

TEMPLATE_SIZE = 200
TEMPLATE_SIGMA = 40.0


@lru_cache(maxsize=1)
def gaussian_template() -> np.ndarray:
    """The 200×200 uint8 template: an isotropic Gaussian (σ = 40 px) cut to a radius-100 disc,
    scaled to a peak of 255 and truncated."""
    size, sigma = TEMPLATE_SIZE, TEMPLATE_SIGMA
    i = np.arange(size, dtype=np.float64)[:, None]
    j = np.arange(size, dtype=np.float64)[None, :]
    half = size / 2
    # Same operation order as the reference, element by element in float64, stored as float32.
    g = (1 / 2 / np.pi / (sigma**2) * np.exp(-1 / 2 * ((i - half) ** 2 / (sigma**2) + (j - half) ** 2 / (sigma**2))))
    g = g.astype(np.float32)
    c = size // 2
    disc = ((np.arange(size)[:, None] - c) ** 2 + (np.arange(size)[None, :] - c) ** 2) <= c * c
    g = g * disc.astype(np.float32)
    g = (g / np.max(g)).astype(np.float32)
    return (g / np.max(g) * 255).astype(np.uint8)


def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source index and 11-bit fixed-point weights of bilinear resampling ``src -> dst``."""
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    low = s < 0
    f[low], s[low] = 0.0, 0
    high = s >= src - 1
    f[high], s[high] = 0.0, src - 1
    w0 = np.rint((np.float32(1.0) - f).astype(np.float32) * np.float32(2048)).astype(np.int64)
    w1 = np.rint(f * np.float32(2048)).astype(np.int64)
    return s, w0, w1


@lru_cache(maxsize=4096)
def _resized_template(width: int, height: int) -> np.ndarray:
    """The template resized to ``width × height`` with 8-bit bilinear interpolation in
    fixed point (identical to OpenCV's ``INTER_LINEAR`` on uint8 images)."""
    tpl = gaussian_template().astype(np.int64)
    src_h, src_w = tpl.shape
    if width * 2 == src_w and height * 2 == src_h:
        # An exact 2x reduction is a 2×2 box average with rounding.
        s = tpl[0::2, 0::2] + tpl[1::2, 0::2] + tpl[0::2, 1::2] + tpl[1::2, 1::2]
        return ((s + 2) >> 2).astype(np.uint8)
    sx, ax0, ax1 = _linear_taps(src_w, width)
    sy, by0, by1 = _linear_taps(src_h, height)
    sx1 = np.minimum(sx + 1, src_w - 1)
    rows = tpl[:, sx] * ax0 + tpl[:, sx1] * ax1  # (src_h, width), scaled by 2048
    edge = sx >= src_w - 1
    rows[:, edge] = tpl[:, sx[edge]] * 2048
    r0 = rows[sy]
    r1 = rows[np.minimum(sy + 1, src_h - 1)]
    out = ((by0[:, None] * (r0 >> 4)) >> 16) + ((by1[:, None] * (r1 >> 4)) >> 16)
    out = (out + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_control_maps(keypoints: Sequence[np.ndarray], height: int, width: int, radius: int = REFERENCE_RADIUS, *,
                      use_id: bool = True, use_depth: bool = True, reference_uint8_wrap: bool = False) -> np.ndarray:
    """Draw the control maps for a list (over frames) of ``(N, 4)`` keypoint arrays
    ``[row, col, label, depth_code]``: a float32 array ``(F, 3, H, W)``.

    Points outside the image are skipped, as are points whose clamped box is empty (the
    reference crashes on those). ``use_id`` / ``use_depth`` zero the label / depth channels
    (the reference's ablation switches). Depth codes above 255 are clipped to 255 (the
    8-bit disparity range the model was trained on); ``reference_uint8_wrap=True`` instead
    reproduces the reference's 8-bit wrap-around of labels and depth codes above 255
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    out = np.zeros((len(keypoints), 3, height, width), dtype=np.float32)
    for t, kps in enumerate(keypoints):
        kps = np.asarray(kps)
        if kps.size == 0:
            continue
        if kps.ndim != 2 or kps.shape[1] != 4:
            raise ValueError(f"keypoints[{t}] must be an (N, 4) array [row, col, label, depth_code], got {kps.shape}")
        if kps.dtype.kind not in "iub" and not np.all(np.isfinite(kps.astype(np.float64))):
            raise ValueError(f"keypoints[{t}] contains NaN or infinite values; give finite [row, col, label, depth_code]")
        img, img_id, img_depth = out[t, 0], out[t, 1], out[t, 2]
        for row, col, label, code in kps.tolist():
            py, px = row, col
            if px < 0 or py < 0 or px >= width or py >= height:
                continue
            x1, x2 = int(max(px - radius, 1)), int(min(px + radius, width - 1))
            y1, y2 = int(max(py - radius, 1)), int(min(py + radius, height - 1))
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            patch = _resized_template(x2 - x1, y2 - y1)
            nz = patch != 0
            if reference_uint8_wrap:
                label, code = int(label) % 256, int(code) % 256
            else:
                code = min(int(code), 255)
            img[y1:y2, x1:x2] = patch
            img_id[y1:y2, x1:x2] = nz * float(label) if use_id else 0.0
            img_depth[y1:y2, x1:x2] = nz * float(code) if use_depth else 0.0
    return out
