"""Reading images, masks and depth maps; writing MP4, GIF and PNG frames.

Every writer writes to a temporary file beside the target and renames it into place, so a
failed write never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..planning.scene import disparity8_to_depth, disparity_to_depth
from .atomic import atomic_dir, atomic_path


def _open(path: str | os.PathLike, what: str) -> Image.Image:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} file not found: {p}")
    try:
        img = Image.open(p)
        img.load()
    except Exception as exc:  # PIL raises several types for corrupt files
        raise ValueError(f"{what} {p} is not a readable image: {exc}") from exc
    return img


def _high_precision_to_uint8(arr: np.ndarray) -> np.ndarray:
    """16-bit / 32-bit integer values (0..65535) and float values (0..1, or 0..255 when larger) as uint8."""
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    arr = arr.astype(np.int64)
    return np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB image as ``(H, W, 3)`` uint8. 16-bit images are scaled (65535 -> 255), float images
    from 0..1 (or taken as 0..255 when larger); plain ``convert("RGB")`` would clip them to white."""
    img = _open(path, "image")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _high_precision_to_uint8(np.asarray(img))
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask as ``(H, W)`` bool: the alpha channel if the image has one that is not fully
    opaque, else the grey value, non-zero = selected."""
    img = _open(path, "mask")
    if img.mode in ("RGBA", "LA") and np.asarray(img.getchannel("A")).min() < 255:
        return np.asarray(img.getchannel("A")) > 127
    arr = np.asarray(img.convert("L") if img.mode not in ("I", "I;16", "F", "1", "L") else img)
    return arr > 0


def load_depth(path: str | os.PathLike, kind: str = "auto", *, with_source: bool = False):
    """A depth map in reference units (``(H, W)`` float64 in ``(0, 1]``, smaller = nearer).

    ``kind``: ``"reference"`` (values already reference depth, ``.npy``), ``"disparity"`` (raw
    relative disparity, larger = nearer, min-max normalised here), ``"disparity8"`` (an 8-bit
    disparity ``d8`` as the reference computes it), or ``"auto"``: ``.npy``/``.npz`` whose values
    lie in ``(0, 1]`` are reference depth and other arrays disparity; 8-bit images are ``d8``;
    16-bit and float images are disparity.

    ``with_source=True`` returns ``(depth, source)``, ``source`` the array as read before any
    conversion to grey (for :func:`levitor.planning.scene.depth_warnings`).
    """
    p = Path(path)
    kinds = ("auto", "reference", "disparity", "disparity8")
    if kind not in kinds:
        raise ValueError(f"depth kind must be one of {kinds}, got {kind!r}")
    if p.suffix.lower() in (".npy", ".npz"):
        if not p.is_file():
            raise ValueError(f"depth file not found: {p}")
        try:
            arr = np.load(p, allow_pickle=False)
            if isinstance(arr, np.lib.npyio.NpzFile):
                arr = arr[arr.files[0]]
        except Exception as exc:
            raise ValueError(f"depth {p} is not a readable .npy/.npz array: {exc}") from exc
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        source = arr
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            arr = arr[..., :3].mean(axis=-1)
        if kind == "auto":
            kind = "reference" if arr.size and np.all(np.isfinite(arr)) and arr.min() > 0 and arr.max() <= 1 else "disparity"
    else:
        img = _open(p, "depth")
        source = np.asarray(img.convert("RGB") if img.mode in ("P", "RGBA") else img)
        if img.mode in ("RGB", "RGBA", "P", "LA"):
            img = img.convert("L")
        arr = np.asarray(img)
        if kind == "auto":
            kind = "disparity8" if arr.dtype == np.uint8 else "disparity"
    if kind == "reference":
        depth = np.asarray(arr, dtype=np.float64)
    elif kind == "disparity8":
        if arr.dtype != np.uint8 and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"depth {p}: 8-bit disparity must lie in 0..255")
        depth = disparity8_to_depth(np.asarray(arr).astype(np.uint8))
    else:
        depth = disparity_to_depth(np.asarray(arr, dtype=np.float32))
    return (depth, source) if with_source else depth


def _as_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
        raise ValueError(f"frames must be (F, H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return arr


def write_video(frames, path: str | os.PathLike, fps: float = 6.0, *, quality: int = 18) -> Path:
    """Write ``(F, H, W, 3)`` frames as ``.mp4`` (H.264 via PyAV), ``.gif`` or ``.webp``
    (animated, via Pillow), chosen by the suffix. Returns the path."""
    path = Path(path)
    arr = _as_frames(frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif", ".webp"):
        raise ValueError(f"video path must end in .mp4, .gif or .webp, got {path.name}")
    with atomic_path(path) as tmp:
        if suffix == ".mp4":
            _write_mp4(arr, tmp, fps, quality)
        else:
            images = [Image.fromarray(f) for f in arr]
            duration = int(round(1000.0 / fps))
            extra = {"lossless": False, "quality": 90} if suffix == ".webp" else {}
            images[0].save(tmp, save_all=True, append_images=images[1:], duration=duration, loop=0, **extra)
    return path


def _write_mp4(arr: np.ndarray, path: Path, fps: float, quality: int) -> None:
    from fractions import Fraction

    import av

    h, w = arr.shape[1:3]
    pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sizes
    if pad_h or pad_w:
        arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(quality)}
        for frame in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode a video or animated image into ``(F, H, W, 3)`` uint8 frames."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"video file not found: {p}")
    if p.suffix.lower() in (".gif", ".webp", ".png"):
        img = Image.open(p)
        frames = []
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB")))
        return np.stack(frames)
    import av

    try:
        with av.open(str(p)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    except Exception as exc:
        raise ValueError(f"video {p} could not be decoded: {exc}") from exc


def _frame_name(prefix: str, i: int) -> str:
    return f"{prefix}_{i:04d}.png"


def check_frames_folder(folder: str | os.PathLike, prefix: str = "frame", what: str | None = None) -> Path:
    """Check that ``folder`` can be replaced by a new set of frames: absent, or a folder holding
    nothing but ``{prefix}_NNNN.png`` frames (a folder with other files is never emptied)."""
    folder = Path(folder)
    what = what or f"frames folder {folder}"
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} is a file; give a folder for the PNG frames")
    if folder.is_dir():
        pattern = re.compile(rf"{re.escape(prefix)}_\d{{4,}}\.png")
        others = sorted(p.name for p in folder.iterdir() if not pattern.fullmatch(p.name))
        if others:
            raise ValueError(f"{what} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
                             "give a new or empty folder (its frames are replaced on every run)")
    return folder


def write_frames(frames, folder: str | os.PathLike, prefix: str = "frame") -> list[Path]:
    """Write frames as numbered PNGs ``{prefix}_0000.png``... as the whole content of ``folder``.

    The folder is written beside its place and swapped in at the end, so a rerun with fewer frames
    leaves no stale PNGs and a failed write leaves the old folder as it was. A folder holding other
    files is refused (:func:`check_frames_folder`).
    """
    arr = _as_frames(frames)
    folder = check_frames_folder(folder, prefix)
    with atomic_dir(folder) as tmp:
        for i, f in enumerate(arr):
            Image.fromarray(f).save(tmp / _frame_name(prefix, i), format="PNG")
    return [folder / _frame_name(prefix, i) for i in range(len(arr))]


def save_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` array as PNG."""
    p = Path(path)
    with atomic_path(p) as tmp:
        Image.fromarray(np.asarray(array)).save(tmp, format="PNG")
    return p


def load_masks(paths: Sequence[str | os.PathLike]) -> list[np.ndarray]:
    return [load_mask(p) for p in paths]
