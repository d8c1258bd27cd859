"""COCO run-length encoding (the masklet format of SA-V) in plain NumPy.

A COCO RLE is a dict ``{"size": [height, width], "counts": ...}``. The runs alternate
0-pixels and 1-pixels, starting with 0s, over the mask flattened in *column-major* order.
``counts`` is either a list of ints (uncompressed) or the compact ASCII string of the COCO
API (LEB128-like, 5 bits per character, offset 48, runs after the third delta-coded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


class RLEError(ValueError):
    """A run-length encoding that cannot be decoded."""


# One run needs at most this many characters (5 bits each): enough for any run of a frame of
# MAX_PIXELS pixels, and a bound on the work a damaged string can cause.
_MAX_CHARS_PER_VALUE = 13

# The largest mask decoded (height * width): checked before anything is allocated.
MAX_PIXELS = 1 << 26


def _string_to_counts(text: str | bytes) -> list[int]:
    counts: list[int] = []
    try:
        data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:
        raise RLEError("RLE counts string must be ASCII") from None
    pos, n = 0, len(data)
    while pos < n:
        value, shift, more = 0, 0, True
        while more:
            if pos >= n:
                raise RLEError("RLE counts string ends in the middle of a value")
            if shift >= _MAX_CHARS_PER_VALUE:
                raise RLEError(f"RLE counts string has a value longer than {_MAX_CHARS_PER_VALUE} characters")
            c = data[pos] - 48
            if c < 0 or c > 63:
                raise RLEError(f"RLE counts string has an invalid character {chr(data[pos])!r}")
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _counts_to_string(counts: list[int]) -> str:
    out = bytearray()
    for i, value in enumerate(counts):
        x = int(value)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((c & 0x10) == 0 and x == 0 or (c & 0x10) != 0 and x == -1)
            if more:
                c |= 0x20
            out.append(c + 48)
    return out.decode("ascii")


def _as_int(value: Any, what: str) -> int:
    """``value`` as a Python int: ints and integral floats only (no bool, no strings)."""
    if isinstance(value, bool):
        raise RLEError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise RLEError(f"{what} must be an integer, got {value!r:.40}")


def rle_size(rle: Mapping[str, Any], *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of a COCO RLE dict, checked (non-negative, at most ``max_pixels``)."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise RLEError("an RLE must be a dict with 'size' [height, width] and 'counts'")
    size = rle["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise RLEError(f"RLE 'size' must be [height, width], got {size!r:.60}")
    height, width = (_as_int(v, "RLE 'size'") for v in size)
    if height < 0 or width < 0:
        raise RLEError(f"RLE 'size' must be non-negative, got {size!r}")
    if height * width > max_pixels:
        raise RLEError(f"RLE 'size' {height}x{width} exceeds {max_pixels} pixels")
    return height, width


def rle_decode(rle: Mapping[str, Any], *, shape: tuple[int, int] | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode one COCO RLE dict to an ``(H, W)`` bool mask.

    Everything is checked before the mask is allocated: the size (at most ``max_pixels``, and
    equal to ``shape`` when given) and every run, one by one in Python integers, against
    ``H * W``. Any problem is an :class:`RLEError`."""
    height, width = rle_size(rle, max_pixels=max_pixels)
    if shape is not None and (height, width) != tuple(shape):
        raise RLEError(f"RLE is {width}x{height} but the frame is {shape[1]}x{shape[0]} (W x H)")
    total = height * width
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = _string_to_counts(counts)
    elif not isinstance(counts, (list, tuple)):
        raise RLEError("RLE 'counts' must be a string or a list of integers")
    runs = []
    covered = 0
    for c in counts:
        run = _as_int(c, "RLE run")
        if run < 0:
            raise RLEError("RLE has a negative run length")
        covered += run
        if covered > total:
            raise RLEError(f"RLE runs cover more than the {total} pixels of size {height}x{width}")
        runs.append(run)
    if covered != total:
        raise RLEError(f"RLE runs cover {covered} pixels but size {height}x{width} has {total}")
    values = (np.arange(len(runs)) % 2).astype(bool)
    flat = np.repeat(values, np.asarray(runs, dtype=np.int64))
    return flat.reshape(width, height).T.copy()


def rle_encode(mask: np.ndarray, *, compressed: bool = True) -> dict:
    """Encode an ``(H, W)`` mask as a COCO RLE dict (string counts unless ``compressed=False``)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    height, width = mask.shape
    flat = mask.astype(bool).T.ravel()
    if flat.size == 0:
        counts = [0]
    else:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        edges = np.concatenate([[0], change, [flat.size]])
        counts = np.diff(edges).tolist()
        if flat[0]:
            counts = [0] + counts
    return {"size": [height, width], "counts": _counts_to_string(counts) if compressed else counts}
