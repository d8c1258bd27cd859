"""The scene: start image, depth in reference units, and the label map of objects and segments.

**Reference depth** is what users see and type: ``1 / d8`` where ``d8`` is the depth estimator's
relative disparity min-max normalised to 0..255 and truncated to uint8. It lies in ``(0, 1]``;
smaller is nearer, ``1.0`` is far or unknown (``d8`` of 0 or 1). Track depths use the same units.

**Label map** ``(H, W)`` int32: user object *k* (selection order) is label ``k + 1``; static
segments (automatic masks) take the labels after them; ``0`` is unlabelled. Labels are candidate
index + 1 and may have gaps where a candidate was rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..limits import TRACK_DEPTH
from .options import REFERENCE_MIN_AREA_FRAC


def disparity_to_depth(disparity: np.ndarray) -> np.ndarray:
    """Convert a raw relative disparity map (larger = nearer) to reference depth, float64.

    ``d8 = uint8(255 * (D - min) / (max - min))`` (truncation, computed in the input's float
    precision as the reference does), then ``1 / d8`` with ``d8 == 0`` mapped to ``1.0``.
    A constant map has no relative depth: everything is ``1.0``.
    """
    disp = np.asarray(disparity)
    if disp.ndim == 3 and disp.shape[-1] in (1, 3, 4):
        disp = disp[..., :3].mean(axis=-1) if disp.shape[-1] > 1 else disp[..., 0]
    if disp.ndim != 2:
        raise ValueError(f"disparity must be an (H, W) map, got shape {disp.shape}")
    return disparity8_to_depth(disparity_to_uint8(disp))


def disparity_to_uint8(disparity: np.ndarray) -> np.ndarray:
    """The 8-bit disparity ``d8 = uint8(255 * (D - min) / (max - min))`` of an ``(H, W)`` map
    (truncation, in the input's float precision); 0 everywhere for a constant map, which
    :func:`disparity8_to_depth` reads as far (1.0) everywhere."""
    disp = np.asarray(disparity)
    if not np.issubdtype(disp.dtype, np.floating) or disp.dtype == np.float16:
        disp = disp.astype(np.float32)
    if not np.all(np.isfinite(disp)):
        raise ValueError("disparity contains NaN or infinite values; check the depth estimator output")
    lo, hi = disp.min(), disp.max()
    if hi <= lo:
        return np.zeros(disp.shape, dtype=np.uint8)
    return ((disp - lo) / (hi - lo) * 255.0).astype(np.uint8)


def disparity8_to_depth(d8: np.ndarray) -> np.ndarray:
    """Reference depth from an 8-bit disparity map: ``1 / d8``, and ``1.0`` where ``d8`` is 0."""
    d8 = np.asarray(d8)
    with np.errstate(divide="ignore"):
        depth = 1.0 / d8.astype(np.float64)
    depth[d8 == 0] = 1.0
    return depth


def depth_to_disparity8(depth: np.ndarray) -> np.ndarray:
    """The 8-bit disparity ``round(1 / depth)`` clipped to 0..255 (``1.0`` maps to 1)."""
    depth = np.asarray(depth, dtype=np.float64)
    return np.clip(np.rint(1.0 / np.maximum(depth, 1e-12)), 0, 255).astype(np.uint8)


def validate_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Check a reference depth map and return it as float64."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an (H, W) map, got shape {depth.shape}")
    if depth.shape != (height, width):
        raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]} but the image is {width}x{height}; resize it")
    depth = depth.astype(np.float64)
    if not np.all(np.isfinite(depth)):
        raise ValueError("depth contains NaN or infinite values")
    if depth.min() < TRACK_DEPTH.lo or depth.max() > TRACK_DEPTH.hi:
        raise ValueError(
            f"depth values must lie in (0, 1], at least {TRACK_DEPTH.lo:g} (reference depth: smaller = nearer, "
            f"1 = far); got [{depth.min():g}, {depth.max():g}]. Convert a raw disparity map with disparity_to_depth()"
        )
    return depth


def _as_mask(mask: np.ndarray, what: str, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"{what} must be an (H, W) mask, got shape {m.shape}")
    if m.shape != shape:
        raise ValueError(f"{what} is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}; resize it")
    if m.dtype != bool:
        if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
            raise ValueError(f"{what} contains NaN values")
        m = m > (0.5 if np.issubdtype(m.dtype, np.floating) else 0)
    return m


def build_label_map(object_masks: Sequence[np.ndarray], static_masks: Sequence[np.ndarray] = (), *,
                    shape: tuple[int, int] | None = None, min_area_frac: float = REFERENCE_MIN_AREA_FRAC,
                    reference_uint8_wrap: bool = False) -> np.ndarray:
    """Assemble the label map from user masks (selection order) and static segments.

    ``static_masks`` are in the order SAM's automatic mask generator returns them; they are
    processed reversed, after the user masks. Candidate ``c`` gets label ``c + 1``. A static
    candidate never takes pixels of a user object. Where a candidate overlaps labels already
    placed, the most frequent of them (smallest on ties) decides: if that label has fewer pixels
    than the candidate's original area, the overlap is cleared and goes to the candidate;
    otherwise the candidate loses the overlap. A candidate is placed only with more than
    ``min_area_frac * H * W`` pixels, and labels left at or below that size are dropped.

    ``reference_uint8_wrap=True`` reproduces the reference's 8-bit label arithmetic (labels wrap at 256).
    """
    masks = list(object_masks) + list(static_masks)[::-1]
    if shape is None:
        if not masks:
            raise ValueError("build_label_map needs at least one mask or an explicit shape")
        shape = np.asarray(masks[0]).shape[:2]
    n = len(object_masks)
    height, width = shape
    thr = min_area_frac * height * width
    final = np.zeros(shape, dtype=np.int32)
    for ids, raw in enumerate(masks):
        what = f"object_masks[{ids}]" if ids < n else f"static_masks[{len(masks) - 1 - ids}]"
        m = _as_mask(raw, what, shape).copy()
        area = int(m.sum())
        label = (ids + 1) % 256 if reference_uint8_wrap else ids + 1
        if label == 0:
            continue
        if ids >= n:
            m &= ~((final > 0) & (final <= n))
        diff = m & (final != 0)
        if diff.any():
            before = int(np.argmax(np.bincount(final[diff])))
            if int((final == before).sum()) < area:
                final[diff] = 0
            else:
                m &= ~diff
        if m.sum() > thr:
            final[m] = label
    for lab in range(1, int(final.max()) + 1):
        seg = final == lab
        if seg.sum() <= thr:
            final[seg] = 0
    return final


def area_statistics(labels: np.ndarray, n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest pixel count of labels ``1..n_labels`` over the frames."""
    labels = np.asarray(labels)
    if n_labels is None:
        n_labels = int(labels.max()) if labels.size else 0
    n_frames = labels.shape[0]
    bins = n_labels + 2  # labels above n_labels share the last bin
    counts = np.zeros((n_frames, bins), dtype=np.int64)
    for t in range(n_frames):  # frame by frame: no frames-sized temporary
        flat = labels[t].ravel()
        if flat.size and (flat.min() < 0 or flat.max() > n_labels + 1):
            flat = np.clip(flat, 0, n_labels + 1)
        counts[t] = np.bincount(flat, minlength=bins)
    return counts[:, 1:n_labels + 1].min(axis=0), counts[:, 1:n_labels + 1].max(axis=0)


@dataclass(eq=False)
class Scene:
    """A start image with its reference depth and label map.

    ``labels`` user object *k* is label ``k + 1`` (it may be missing if its mask was rejected
    as too small); ``num_objects`` is the number of moved objects. With ``camera_move`` the last
    of them is the background (every pixel outside the object masks), moved by a camera track;
    ``num_tracks`` is then one less. Scenes compare and hash by identity.
    """

    image: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    num_objects: int
    camera_move: bool = False

    @cached_property
    def input_warnings(self) -> list[str]:
        """Warnings about the inputs themselves: a flat or image-like depth map, an object that
        covers the whole image. Computed once per scene (the live preview renders it often)."""
        masks = [self.labels == k + 1 for k in range(self.num_tracks)]
        return depth_warnings(self.depth, self.image) + [
            note for note in mask_warnings(masks) if "covers nothing" not in note]

    @property
    def num_tracks(self) -> int:
        """How many object tracks the scene needs (the camera track is given apart)."""
        return self.num_objects - int(self.camera_move)

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    def object_present(self, k: int) -> bool:
        """Whether user object ``k`` (0-based) kept any pixels in the label map."""
        return bool((self.labels == k + 1).any())


def validate_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {img.shape}")
    img = img[..., :3]
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            if not np.all(np.isfinite(img)):
                raise ValueError("image contains NaN values")
            scale = 255.0 if img.max() <= 1.0 else 1.0
            img = np.clip(np.rint(img * scale), 0, 255).astype(np.uint8)
        else:
            img = np.clip(img, 0, 255).astype(np.uint8)
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"image is too small ({img.shape[1]}x{img.shape[0]})")
    return img


def background_mask(object_masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Every pixel that belongs to no object mask."""
    covered = np.zeros((height, width), dtype=bool)
    for m in object_masks:
        covered |= m
    return ~covered


def make_scene(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
               static_masks: Sequence[np.ndarray] = (), *, min_area_frac: float = REFERENCE_MIN_AREA_FRAC,
               reference_uint8_wrap: bool = False, camera_move: bool = False) -> Scene:
    """Validate the inputs and build a :class:`Scene`.

    ``camera_move``: the background (every pixel outside the object masks) becomes one more
    moved object after the user objects, for a camera track to move.

    Raises ``ValueError`` naming the input for masks of the wrong size, empty object masks,
    depth outside ``(0, 1]`` or NaN, and a camera move with no background left.
    """
    img = validate_image(image)
    height, width = img.shape[:2]
    depth = validate_depth(depth, height, width)
    obj = [_as_mask(m, f"object_masks[{k}]", (height, width)) for k, m in enumerate(object_masks)]
    for k, m in enumerate(obj):
        if not m.any():
            raise ValueError(f"object_masks[{k}] is empty; select the object again (every moved object needs pixels)")
    if camera_move:
        bg = background_mask(obj, height, width)
        if not bg.any():
            raise ValueError("camera move: the object masks cover the whole image, there is no background to move")
        obj.append(bg)
    static = [_as_mask(m, f"static_masks[{k}]", (height, width)) for k, m in enumerate(static_masks)]
    labels = build_label_map(obj, static, shape=(height, width), min_area_frac=min_area_frac,
                             reference_uint8_wrap=reference_uint8_wrap)
    return Scene(image=img, depth=depth, labels=labels, num_objects=len(obj), camera_move=bool(camera_move))




# Input-sanity thresholds (warnings, not errors: the plan still runs).
NEAR_CONSTANT_SPREAD = 0.05  # 1st..99th percentile disparity spread, as a fraction of the largest
COLOUR_CHANNEL_DIFF = 8.0  # mean |R-G|, |G-B| in 0..255 above which a depth image is a colour photo
IMAGE_LIKENESS = 0.98  # |correlation| between depth and the image's grey value
FULL_MASK_FRAC = 0.995  # a mask covering this fraction of the image covers "everything"


def depth_warnings(depth: np.ndarray, image: np.ndarray | None = None, *, source: np.ndarray | None = None,
                   name: str = "depth") -> list[str]:
    """Warnings about a depth map that will silently lose occlusion or perspective.

    ``depth`` is the reference depth ``(H, W)`` in ``(0, 1]``; ``image`` the start image (to spot
    the image itself given as depth); ``source`` the depth image as it was read, before any
    conversion to grey (to spot a colour photo). Returns one sentence per problem, naming ``name``.
    """
    notes: list[str] = []
    if source is not None:
        src = np.asarray(source, dtype=np.float64)
        if src.ndim == 3 and src.shape[-1] >= 3:
            scale = 255.0 / src[..., :3].max() if src[..., :3].max() > 255 else 1.0
            rgb = src[..., :3] * scale
            diff = max(np.abs(rgb[..., 0] - rgb[..., 1]).mean(), np.abs(rgb[..., 1] - rgb[..., 2]).mean())
            if diff > COLOUR_CHANNEL_DIFF:
                notes.append(f"{name} looks like a colour photo, not a depth map (its colour channels differ); "
                             "give the depth estimator's grey output (near = bright)")
    d = np.asarray(depth, dtype=np.float64)
    if d.size == 0:
        return notes
    disparity = 1.0 / np.maximum(d, 1e-12)
    if disparity.max() == disparity.min():
        notes.append(f"{name} is constant: every pixel is at the same depth, so occlusion and perspective "
                     "scaling are lost; check the depth map")
    else:
        lo, hi = np.percentile(disparity, [1, 99])
        if hi - lo <= NEAR_CONSTANT_SPREAD * abs(hi):
            notes.append(f"{name} is nearly constant (99% of pixels within {100 * NEAR_CONSTANT_SPREAD:g}% of one "
                         "depth), so occlusion and perspective scaling are mostly lost; check the depth map")
    if image is not None and not notes:
        img = np.asarray(image, dtype=np.float64)
        if img.shape[:2] == d.shape:
            grey = img[..., :3].mean(axis=-1) if img.ndim == 3 else img
            if grey.std() > 0 and disparity.std() > 0:
                corr = float(np.corrcoef(grey.ravel(), disparity.ravel())[0, 1])
                if abs(corr) >= IMAGE_LIKENESS:
                    notes.append(f"{name} looks like the image itself in grey (correlation {corr:.3f}), not a depth "
                                 "map; give the depth estimator's output")
    return notes


def mask_warnings(object_masks: Sequence[np.ndarray], static_masks: Sequence[np.ndarray] = (), *,
                  object_names: Sequence[str] | None = None, static_names: Sequence[str] | None = None) -> list[str]:
    """Warnings for masks that cover nothing or (nearly) the whole image.

    An empty object mask is an error in :func:`make_scene`; here it is reported as a sentence too,
    so a front end can show every problem at once.
    """
    notes: list[str] = []
    groups = [("object mask", object_masks, object_names), ("static mask", static_masks, static_names)]
    for kind, masks, names in groups:
        for k, m in enumerate(masks):
            m = np.asarray(m)
            m = m > (0.5 if np.issubdtype(m.dtype, np.floating) else 0) if m.dtype != bool else m
            label = f"{kind} {names[k]}" if names is not None else f"{kind} {k}"
            frac = float(m.mean()) if m.size else 0.0
            if frac == 0.0:
                notes.append(f"{label} covers nothing (no selected pixel); check the file or select again")
            elif frac >= FULL_MASK_FRAC:
                notes.append(f"{label} covers the whole image ({100 * frac:.1f}% of the pixels); is it inverted?")
    return notes
