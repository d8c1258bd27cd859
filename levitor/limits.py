"""Bounds on every size and setting a user can give, defined once for the library, CLI, nodes and routes.

Each :class:`Bound` names its input, its range and what the value means. ``check`` tests a value
for type and range *before* converting it (a 309-digit integer or ``1e999`` is a ``ValueError``,
never an ``OverflowError``) and returns it as ``int`` or ``float``. Nodes read ``widget()`` for
their ``min``/``max``; the CLI reads ``argparse_type()``.

Planning cost grows with ``frames x height x width`` and with the number of tracks; the splatter's
work per frame is bounded by the image size (:mod:`levitor.planning.render`), so these bounds bound
the whole plan.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any


@dataclass(frozen=True)
class Bound:
    """The allowed range ``[lo, hi]`` of the input ``name`` (``lo`` excluded when ``lo_open``)."""

    name: str
    lo: float
    hi: float
    integer: bool = False
    lo_open: bool = False
    meaning: str = ""

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        return f"{left}{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def contains(self, value: Any) -> bool:
        try:
            self.check(value)
        except ValueError:
            return False
        return True

    def check(self, value: Any, what: str | None = None) -> int | float:
        """``value`` as ``int`` (integer bounds) or ``float`` when it is a number in range;
        ``ValueError`` naming ``what`` (default: the bound's name) and the range otherwise."""
        what = what or self.name
        hint = f" ({self.meaning})" if self.meaning else ""
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValueError(f"{what} must be {kind} in {self.describe()}{hint}, got {_short(value)}")
        if isinstance(value, Integral):
            v_int = int(value)
            # Compare Python ints exactly: no float conversion of a huge integer.
            if v_int < self.lo or v_int > self.hi or (self.lo_open and v_int == self.lo):
                raise ValueError(f"{what} must be in {self.describe()}{hint}, got {_short(value)}")
            return v_int if self.integer else float(v_int)
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{what} must be a finite number in {self.describe()}{hint}, got {_short(value)}")
        if v < self.lo or v > self.hi or (self.lo_open and v == self.lo):
            raise ValueError(f"{what} must be in {self.describe()}{hint}, got {_short(value)}")
        if self.integer:
            if not v.is_integer():
                raise ValueError(f"{what} must be an integer in {self.describe()}{hint}, got {_short(value)}")
            return int(v)
        return v

    def widget(self) -> dict:
        """``{"min": lo, "max": hi}`` for a ComfyUI INT/FLOAT input."""
        if self.integer:
            return {"min": int(self.lo), "max": int(self.hi)}
        return {"min": float(self.lo), "max": float(self.hi)}

    def argparse_type(self, flag: str | None = None):
        """A ``type=`` function for argparse: parses the text and checks the range, the error
        naming ``flag``."""
        what = flag or self.name

        def parse(text: str):
            try:
                value: Any = int(text) if self.integer else float(text)
            except ValueError:
                if self.integer:
                    try:
                        value = float(text)
                    except ValueError:
                        raise argparse.ArgumentTypeError(
                            f"{what} must be an integer in {self.describe()}, got {text!r}") from None
                else:
                    raise argparse.ArgumentTypeError(
                        f"{what} must be a number in {self.describe()}, got {text!r}") from None
            try:
                return self.check(value, what)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        parse.__name__ = self.name
        return parse


def _fmt(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return f"{v:g}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- planning -------------------------------------------------------------------------------------
NUM_FRAMES = Bound("num_frames", 1, 128, integer=True, meaning="frames to plan")
IMAGE_SIDE = Bound("image side", 2, 8192, integer=True, meaning="width or height in pixels")
MAX_IMAGE_PIXELS = 2048 * 2048  # width x height of a planning image; resize larger photos first
MAX_PLAN_PIXELS = 128 * 1024 * 576  # frames x height x width of one plan (the largest SVD setting)
RATIO = Bound("ratio", 0.01, 10.0, meaning="control point density: small = few points, large = many")
RADIUS = Bound("radius", 1, 64, integer=True, meaning="heatmap patch half-size in pixels")
MIN_AREA_FRAC = Bound("min_area_frac", 0.0, 0.5, meaning="smallest segment kept, as a fraction of the image")
BASE_RADIUS = Bound("base_radius", 0.001, 0.2, meaning="splat radius in normalised device units (reference 0.011)")
POINTS_PER_PIXEL = Bound("points_per_pixel", 1, 64, integer=True,
                         meaning="nearest points composited per pixel (reference 10)")
TRACK_DEPTH = Bound("depth", 1e-4, 1.0, meaning="reference depth: smaller = nearer, 1 = far")
TRACK_COORD = Bound("coordinate", -1e6, 1e6, meaning="x or y in pixels")
MAX_TRACKS = 64  # tracks (moved objects) in one plan
MAX_TRACK_POINTS = 4096  # clicked or sampled points in one track
POINTS_PER_OBJECT = Bound("points_per_object", 1, 1024, integer=True, meaning="point tracks sampled on each object")
STATIC_POINTS = Bound("static_points", 0, 1024, integer=True, meaning="point tracks pinning the background, 0 = none")
MAX_POINT_TRACKS = 4096  # point tracks of one plan, objects and anchors together
MAX_PROMPT_POINTS = 1024  # SAM point prompts in one points text, all objects together

# --- files: names, and what a reader decodes (checked from the file's header, before decoding) -----
MAX_PATH_NAME = 255  # bytes in one file or folder name (NAME_MAX of common file systems)
MAX_PATH_BYTES = 4096  # bytes in a whole path (PATH_MAX on Linux)
FILE_SIDE = Bound("side", 1, IMAGE_SIDE.hi, integer=True, meaning="width or height in pixels of a file read")
MAX_READ_PIXELS = 8192 * 8192  # width x height of an image, mask, depth or video frame read at all (photos
# above MAX_IMAGE_PIXELS are read, then resized with --resize fit)
MAX_ARRAY_BYTES = 3 * 4 * MAX_PLAN_PIXELS  # data of a .npy/.npz array read at all: float32 control maps
# (F, 3, H, W) of the largest plan
MAX_VIDEO_FRAMES = 1024  # frames read_video decodes from one file
MAX_VIDEO_PIXELS = 256 * 1024 * 576  # frames x height x width read_video decodes from one file

# --- JSON texts users type or editors send (tracks, points, preview requests) ---------------------
MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 32  # nesting of lists/objects; the formats need at most 6

# --- generation -----------------------------------------------------------------------------------
STEPS = Bound("steps", 1, 200, integer=True, meaning="denoising steps (reference 25)")
GUIDANCE = Bound("guidance", 0.0, 20.0, meaning="classifier-free guidance scale")
MOTION_BUCKET_ID = Bound("motion_bucket_id", 1, 255, integer=True, meaning="SVD motion bucket (reference 100)")
FPS = Bound("fps", 1, 60, integer=True, meaning="frame rate SVD is conditioned on")
NOISE_AUG_STRENGTH = Bound("noise_aug_strength", 0.0, 1.0, meaning="noise added to the conditioning image")
CONTROL_SCALE = Bound("control_scale", 0.0, 10.0, meaning="ControlNet residual scale")
SEED = Bound("seed", 0, 0xFFFFFFFFFFFFFFFF, integer=True, meaning="noise seed")
DECODE_CHUNK_SIZE = Bound("decode_chunk_size", 0, 128, integer=True, meaning="frames per VAE decode call, 0 = all")
SVD_WORKING_SIZE = (1024, 576)  # width x height SVD-xt was trained at; larger images are refused or resized
SIZE_MULTIPLE = 8  # the VAE's scale factor: width and height of a generated video are multiples of it

# --- depth estimation and automatic segmentation --------------------------------------------------
DEPTH_INPUT_SIZE = Bound("input_size", 14, 2048, integer=True, meaning="depth estimator input size")
POINTS_PER_SIDE = Bound("points_per_side", 1, 128, integer=True, meaning="SAM automatic grid points per side")
SCORE_THRESHOLD = Bound("threshold", 0.0, 1.0, meaning="a score threshold")
MIN_MASK_REGION_AREA = Bound("min_mask_region_area", 0, 100000, integer=True, meaning="pixels")


def check_image_size(width: Any, height: Any, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` as ints when both sides and the pixel count are within bounds."""
    w = IMAGE_SIDE.check(width, f"{what} width")
    h = IMAGE_SIDE.check(height, f"{what} height")
    if w * h > MAX_IMAGE_PIXELS:
        raise ValueError(f"{what} is {w}x{h} = {w * h} pixels, above the {MAX_IMAGE_PIXELS} a plan allows; "
                         "resize it (SVD works at 1024x576)")
    return w, h


def check_plan_size(num_frames: Any, width: int, height: int) -> int:
    """``num_frames`` as int when it and ``frames x height x width`` are within bounds."""
    f = NUM_FRAMES.check(num_frames)
    if f * width * height > MAX_PLAN_PIXELS:
        raise ValueError(f"num_frames {f} at {width}x{height} is {f * width * height} frame pixels, above the "
                         f"{MAX_PLAN_PIXELS} a plan allows; use fewer frames or a smaller image")
    return f


def check_read_size(width: Any, height: Any, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` of a file about to be decoded, as ints, when each side is within
    ``FILE_SIDE`` and the pixel count within ``MAX_READ_PIXELS``; ``ValueError`` otherwise."""
    if not (FILE_SIDE.contains(width) and FILE_SIDE.contains(height)):
        raise ValueError(f"{what} is {_short(width)}x{_short(height)} pixels; each side must be in "
                         f"{FILE_SIDE.describe()}: resize it first")
    w, h = int(width), int(height)
    if w * h > MAX_READ_PIXELS:
        raise ValueError(f"{what} is {w}x{h} = {w * h} pixels, above the {MAX_READ_PIXELS} a file may have; "
                         "resize it first")
    return w, h


def check_video_size(frames: int, width: int, height: int, what: str = "video") -> None:
    """A video of ``frames`` frames of ``width x height`` may be decoded: at most ``MAX_VIDEO_FRAMES``
    frames and ``MAX_VIDEO_PIXELS`` frame pixels in all."""
    check_read_size(width, height, f"{what} frame")
    if frames > MAX_VIDEO_FRAMES:
        raise ValueError(f"{what} has more than {MAX_VIDEO_FRAMES} frames; cut it shorter")
    if frames * width * height > MAX_VIDEO_PIXELS:
        raise ValueError(f"{what} has {frames} frames of {width}x{height} = {frames * width * height} frame pixels, "
                         f"above the {MAX_VIDEO_PIXELS} a read allows; cut it shorter or smaller")


def check_path(text: Any, what: str = "path") -> str:
    """``text`` when it can name a file: a non-empty string without NUL, each name at most
    ``MAX_PATH_NAME`` bytes and the whole at most ``MAX_PATH_BYTES``; ``ValueError`` naming ``what``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must name a file, got {_short(text)}")
    if "\0" in text:
        raise ValueError(f"{what} {_short(text)} holds a NUL character; give a file name")
    try:
        raw = os.fsencode(text)
    except UnicodeError:
        raise ValueError(f"{what} {_short(text)} cannot be encoded as a file name on this system") from None
    if len(raw) > MAX_PATH_BYTES:
        raise ValueError(f"{what} is a path of {len(raw)} bytes ({_short(text)}), above the {MAX_PATH_BYTES} a "
                         "path may have; give a shorter path")
    for name in raw.split(os.fsencode(os.sep)):
        if len(name) > MAX_PATH_NAME:
            raise ValueError(f"{what}: the name {_short(os.fsdecode(name))} in it is {len(name)} bytes long, above "
                             f"the {MAX_PATH_NAME} a file system allows; give a shorter name")
    return text
