"""COCO run-length encoding (the masklet format of SA-V) in plain NumPy.

A COCO RLE is a dict ``{"size": [height, width], "counts": ...}``. The runs alternate
0-pixels and 1-pixels, starting with 0s, over the mask flattened in *column-major* order.
``counts`` is either a list of ints (uncompressed) or the compact ASCII string of the COCO
API (LEB128-like, 5 bits per character, offset 48, runs after the third delta-coded).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class RLEError(ValueError):
    """A run-length encoding that cannot be decoded."""


def _string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    pos, n = 0, len(data)
    while pos < n:
        value, shift, more = 0, 0, True
        while more:
            if pos >= n:
                raise RLEError("RLE counts string ends in the middle of a value")
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


def rle_decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode one COCO RLE dict to an ``(H, W)`` bool mask."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise RLEError("an RLE must be a dict with 'size' [height, width] and 'counts'")
    try:
        height, width = (int(v) for v in rle["size"])
    except (TypeError, ValueError):
        raise RLEError(f"RLE 'size' must be [height, width], got {rle['size']!r}") from None
    if height < 0 or width < 0:
        raise RLEError(f"RLE 'size' must be non-negative, got {rle['size']!r}")
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = _string_to_counts(counts)
    else:
        try:
            counts = [int(c) for c in counts]
        except (TypeError, ValueError):
            raise RLEError("RLE 'counts' must be a string or a list of integers") from None
    runs = np.asarray(counts, dtype=np.int64)
    total = height * width
    if (runs < 0).any():
        raise RLEError("RLE has a negative run length")
    if runs.sum() != total:
        raise RLEError(f"RLE runs cover {int(runs.sum())} pixels but size {height}x{width} has {total}")
    values = (np.arange(len(runs)) % 2).astype(bool)
    flat = np.repeat(values, runs)
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
