"""Checks shared by the subcommands, all made before any slow work: one-line argument errors,
device names against the devices that exist, image sizes (multiples of 8, SVD's working size) and
the ``--resize`` / ``--crop`` offers."""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

from .. import limits

RESIZE_FIT = "fit"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``levitor plan: error: ...``), exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: (.*)", message, flags=re.S)
        if m and m.group(2).startswith(m.group(1)):
            message = m.group(2)  # the type function already named the flag
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_writable(path: Path, flag: str) -> None:
    """``path`` can be created: its nearest existing parent folder is writable."""
    parent = Path(path).absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: cannot write into {parent}; give a folder you can write to")


def bounded(bound: limits.Bound, flag: str):
    """argparse ``type=`` for ``flag`` checked against ``bound`` (levitor.limits)."""
    return bound.argparse_type(flag)


def path_arg(flag: str):
    """argparse ``type=`` for a file or folder named by ``flag``: not empty, no NUL byte, and within
    the lengths file systems take (each name at most ``limits.MAX_PATH_NAME`` bytes, the whole path
    at most ``limits.MAX_PATH_BYTES``), so a mistyped path is an argument error, not a disk error."""

    def parse(text: str) -> str:
        try:
            limits.check_path(text, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    parse.__name__ = "path"
    return parse


def available_devices() -> list[str]:
    """The torch devices of this machine: ``cpu`` and every accelerator torch sees."""
    import torch

    names = ["cpu"]
    for kind in ("cuda", "xpu"):
        module = getattr(torch, kind, None)
        if module is not None and module.is_available():
            names += [f"{kind}:{i}" for i in range(module.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def check_device(text: str | None, flag: str = "--device") -> str | None:
    """``text`` when it names a device that exists here (``cuda`` = ``cuda:0``); else ValueError."""
    if text is None:
        return None
    import torch

    have = available_devices()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"{flag} {text!r} is not a device name; this machine has: {', '.join(have)}") from None
    if device.type == "cpu":
        return text
    same_kind = [d for d in have if d.split(":")[0] == device.type]
    if not same_kind:
        raise ValueError(f"{flag} {text}: this machine has no {device.type} device (torch {torch.__version__} "
                         f"sees: {', '.join(have)}); use {flag} cpu")
    if device.index is not None and f"{device.type}:{device.index}" not in same_kind and device.type != "mps":
        raise ValueError(f"{flag} {text}: there is no {device.type} device {device.index}; this machine has: "
                         f"{', '.join(have)}")
    return text


def parse_resize(text: str):
    """argparse ``type=`` for ``--resize``: ``fit`` or ``WxH`` (multiples of 8)."""
    if text.strip().lower() == RESIZE_FIT:
        return RESIZE_FIT
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--resize must be WxH (e.g. 512x288) or {RESIZE_FIT}, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    try:
        limits.check_image_size(w, h, "--resize")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    k = limits.SIZE_MULTIPLE
    if w % k or h % k:
        raise argparse.ArgumentTypeError(f"--resize {w}x{h}: width and height must be multiples of {k}, e.g. "
                                         f"{round_to_multiple(w)}x{round_to_multiple(h)}")
    return (w, h)


def round_to_multiple(v: float) -> int:
    k = limits.SIZE_MULTIPLE
    return max(k, int(round(v / k)) * k)


def fit_size(width: int, height: int, max_pixels: int | None = None, max_side: int | None = None) -> tuple[int, int]:
    """The size with the aspect ratio of ``width x height``, both sides multiples of 8, scaled down
    (never up) to at most ``max_pixels`` pixels (default SVD's working size) and ``max_side``."""
    if max_pixels is None:
        max_pixels = limits.SVD_WORKING_SIZE[0] * limits.SVD_WORKING_SIZE[1]
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    if max_side is not None:
        scale = min(scale, max_side / max(width, height))
    k = limits.SIZE_MULTIPLE
    w = max(k, int(width * scale) // k * k)
    h = max(k, int(height * scale) // k * k)
    return w, h


def crop_size(width: int, height: int) -> tuple[int, int]:
    k = limits.SIZE_MULTIPLE
    return width // k * k, height // k * k


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def sampling_memory(width: int, height: int, frames: int) -> float:
    """A lower estimate of the activation memory of sampling ``frames`` frames at ``width x height``
    (fp16): the control maps of both guidance halves (fp32) and the VAE decoder's full-resolution
    feature maps (128 channels, about three alive at once, all frames decoded together). Weights
    (about 5.5 GiB in fp16) come on top."""
    pixels = width * height * frames
    return pixels * 3 * 4 * 2 + pixels * 128 * 3 * 2


def check_generation_size(width: int, height: int, frames: int, flag: str = "--image") -> None:
    """Multiples of 8 and at most SVD's working size; the error offers ``--crop`` / ``--resize``."""
    k = limits.SIZE_MULTIPLE
    sw, sh = limits.SVD_WORKING_SIZE
    if width * height > sw * sh:
        fw, fh = fit_size(width, height)
        raise ValueError(
            f"{flag} is {width}x{height}, above SVD's working size {sw}x{sh} ({sw * sh} pixels): sampling "
            f"{frames} frames would need about {gib(sampling_memory(width, height, frames))} of activations "
            f"(+ ~5.5 GiB of weights) against {gib(sampling_memory(sw, sh, frames))} at {sw}x{sh}; pass "
            f"--resize fit (here {fw}x{fh}) or --resize WxH"
        )
    if width % k or height % k:
        cw, ch = crop_size(width, height)
        rw, rh = round_to_multiple(width), round_to_multiple(height)
        raise ValueError(
            f"{flag} is {width}x{height}: SVD needs width and height that are multiples of {k}; pass --crop "
            f"(centre crop to {cw}x{ch}) or --resize {rw}x{rh}"
        )


# What the preview video of `levitor plan` / `levitor demo` shows (levitor.cli.scene.preview_frames).
PREVIEWS = ("masks", "warped", "both")  # what the preview video shows (levitor.cli.scene.preview_frames)
PREVIEW_HELP = ("preview video: masks = the moved masks, control points and tracks over the image; warped = the "
                "image with the objects moved (occlusion and perspective included); both = side by side "
                "(default masks)")
