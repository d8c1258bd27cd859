"""Reading images, masks and depth maps; writing MP4, GIF and PNG frames.

Every writer writes to a temporary file beside the target and renames it into place, so a
failed write never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..limits import MAX_ARRAY_BYTES, check_path, check_read_size, check_video_size
from ..planning.scene import disparity8_to_depth, disparity_to_depth
from .atomic import atomic_dir, atomic_path


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` when it names an existing file; ``ValueError`` naming
    ``what`` otherwise (also for names no file system takes: empty, too long, with a NUL)."""
    check_path(os.fspath(path) if isinstance(path, os.PathLike) else path, what)
    p = Path(path)
    try:
        found = p.is_file()
    except OSError as exc:  # e.g. a name too long for this file system
        raise ValueError(f"{what} {p} cannot be read: {exc.strerror or exc}") from None
    if not found:
        raise ValueError(f"{what} file not found: {p}")
    return p


def _open_lazy(p: Path, what: str) -> Image.Image:
    """The image at ``p`` opened (header read, nothing decoded), its size checked against
    :func:`levitor.limits.check_read_size`."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own pixel limit; the size is checked against ours just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(p)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{what} {p} is too large to read ({exc}); resize it first") from None
    except Exception as exc:  # PIL raises several types for files it cannot identify
        raise ValueError(f"{what} {p} is not a readable image: {exc}") from exc
    try:
        check_read_size(*img.size, what=f"{what} {p}")
    except ValueError:
        img.close()
        raise
    return img


def _open(path: str | os.PathLike, what: str) -> Image.Image:
    """The image at ``path``, decoded only after its size (read from the header) is checked."""
    p = existing_file(path, what)
    img = _open_lazy(p, what)
    try:
        img.load()
    except Exception as exc:  # truncated or corrupt data
        img.close()
        raise ValueError(f"{what} {p} is not a readable image: {exc}") from exc
    return img


def _convert(img: Image.Image, mode: str, what: str, path) -> Image.Image:
    """``img.convert(mode)``; ``ValueError`` naming the file for a mode Pillow cannot convert (LAB...)."""
    try:
        return img.convert(mode)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{what} {path} is a {img.mode} image, which cannot be read as {mode} ({exc}); "
                         "save it as RGB or grey") from None


# Numeric dtype kinds an array file may hold: bool, signed and unsigned integers, floats.
_ARRAY_KINDS = "biuf"


def read_array_header(path: str | os.PathLike, what: str = "array") -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` of the array in a ``.npy`` file or of the first array of a ``.npz``,
    read from the header without loading the data. ``ValueError`` when the file is not one, or
    holds anything but a plain numeric array (structured, object, complex, text)."""
    shape, dtype, _member = _array_header(existing_file(path, what), what)
    return shape, dtype


def _array_header(p: Path, what: str) -> tuple[tuple[int, ...], np.dtype, str | None]:
    """``(shape, dtype, .npz member name or None)``."""
    member = None
    try:
        with open(p, "rb") as f:
            is_zip = f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # as np.load tells them apart
        if is_zip:
            with zipfile.ZipFile(p) as archive:
                members = [n for n in archive.namelist() if n.endswith(".npy")]
                if not members:
                    raise ValueError("it holds no .npy array")
                member = members[0]
                with archive.open(member) as f:
                    shape, dtype = _npy_header(f)
        else:
            with open(p, "rb") as f:
                shape, dtype = _npy_header(f)
    except Exception as exc:  # ValueError from NumPy, zipfile.BadZipFile, EOFError, OSError...
        raise ValueError(f"{what} {p} is not a readable .npy/.npz array: {exc}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{what} {p} holds an array of dtype {dtype.str!r}; give a plain numeric array "
                         "(bool, integer or float)")
    return shape, dtype, member


def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return tuple(int(n) for n in shape), np.dtype(dtype)


def load_array(path: str | os.PathLike, what: str = "array", check_shape=None) -> np.ndarray:
    """The array of a ``.npy`` file (or the first array of a ``.npz``), never unpickled.

    The header is read first: the dtype must be plain numeric, the data at most
    ``levitor.limits.MAX_ARRAY_BYTES``, ``check_shape(shape)`` (when given) may raise ``ValueError``
    to refuse the shape, and the data are read only then.
    """
    p = existing_file(path, what)
    shape, dtype, member = _array_header(p, what)
    if check_shape is not None:
        check_shape(shape)
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize  # exact: no overflow for any header
    if size > MAX_ARRAY_BYTES:
        raise ValueError(f"{what} {p} holds a {'x'.join(map(str, shape))} array of {dtype.name} ({size} bytes), "
                         f"above the {MAX_ARRAY_BYTES} bytes an array file may have")
    try:
        if member is None:
            return np.asarray(np.load(p, allow_pickle=False))
        with zipfile.ZipFile(p) as archive, archive.open(member) as f:
            return np.asarray(np.lib.format.read_array(f, allow_pickle=False))
    except Exception as exc:  # truncated data, a header that lies
        raise ValueError(f"{what} {p} is not a readable .npy/.npz array: {exc}") from exc


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
    return np.asarray(_convert(img, "RGB", "image", path), dtype=np.uint8)


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask as ``(H, W)`` bool: the alpha channel if the image has one that is not fully
    opaque, else the grey value, non-zero = selected."""
    img = _open(path, "mask")
    if img.mode in ("RGBA", "LA") and np.asarray(img.getchannel("A")).min() < 255:
        return np.asarray(img.getchannel("A")) > 127
    arr = np.asarray(_convert(img, "L", "mask", path) if img.mode not in ("I", "I;16", "F", "1", "L") else img)
    return arr > 0


# Pillow modes of one channel: the depth value is the pixel itself.
_GREY_MODES = ("1", "L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def _check_depth_shape(shape: tuple[int, ...], p: Path) -> None:
    """A depth array is ``(H, W)`` or ``(H, W, C)`` with 1, 3 or 4 channels, of a
    size :func:`levitor.limits.check_read_size` allows."""
    if not (len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4))):
        raise ValueError(f"depth {p} holds an array of shape {shape}; give an (H, W) depth map "
                         "(or (H, W, 1), (H, W, 3), (H, W, 4))")
    check_read_size(shape[1], shape[0], f"depth {p}")


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
    kinds = ("auto", "reference", "disparity", "disparity8")
    if kind not in kinds:
        raise ValueError(f"depth kind must be one of {kinds}, got {kind!r}")
    p = existing_file(path, "depth")
    if p.suffix.lower() in (".npy", ".npz"):
        arr = load_array(p, "depth", check_shape=lambda shape: _check_depth_shape(shape, p))
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        source = arr
        if arr.ndim == 3:
            arr = arr[..., :3].mean(axis=-1)
        if kind == "auto":
            kind = "reference" if arr.size and np.all(np.isfinite(arr)) and arr.min() > 0 and arr.max() <= 1 else "disparity"
    else:
        img = _open(p, "depth")
        if img.mode in _GREY_MODES:
            source = arr = np.asarray(img)
        else:  # colour, palette or grey + alpha: grey from the colour (source kept in RGB for the warnings)
            source = np.asarray(_convert(img, "RGB", "depth", p))
            arr = np.asarray(_convert(img, "L", "depth", p))
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
    """Decode a video or animated image into ``(F, H, W, 3)`` uint8 frames.

    The frame size and count are read from the file's header (the container's stream for a video,
    Pillow's header for ``.gif``/``.webp``/``.png``) and checked against
    :func:`levitor.limits.check_video_size` before any frame is decoded; decoding also stops at
    the limit when a header does not tell the count. Any file that cannot be read is a ``ValueError``.
    """
    p = existing_file(path, "video")
    if p.suffix.lower() in (".gif", ".webp", ".png"):
        return _read_animated_image(p)
    import av

    try:
        container = av.open(str(p))
    except Exception as exc:
        raise ValueError(f"video {p} could not be decoded: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError(f"video {p} has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        check_video_size(max(int(stream.frames or 0), 1), width, height, f"video {p}")
        frames = []
        try:
            for frame in container.decode(stream):
                if frame.width != width or frame.height != height:
                    check_read_size(frame.width, frame.height, f"video {p} frame")
                frames.append(frame.to_ndarray(format="rgb24"))
                check_video_size(len(frames), frame.width, frame.height, f"video {p}")
        except ValueError as exc:
            if str(exc).startswith(f"video {p}"):
                raise
            raise ValueError(f"video {p} could not be decoded: {exc}") from exc
        except Exception as exc:
            raise ValueError(f"video {p} could not be decoded: {exc}") from exc
    if not frames:
        raise ValueError(f"video {p} holds no frame")
    if len({f.shape for f in frames}) > 1:
        raise ValueError(f"video {p} changes its frame size; give a video of one size")
    return np.stack(frames)


def _read_animated_image(p: Path) -> np.ndarray:
    img = _open_lazy(p, "video")
    with img:
        width, height = img.size
        try:
            count = int(getattr(img, "n_frames", 1))
        except Exception as exc:  # counting seeks through the file, which may be corrupt
            raise ValueError(f"video {p} is not a readable animated image: {exc}") from exc
        check_video_size(count, width, height, f"video {p}")
        frames = []
        try:
            for i in range(count):
                img.seek(i)
                frame = np.asarray(img.convert("RGB"))
                if frame.shape[:2] != (height, width):
                    raise ValueError(f"video {p} changes its frame size; give a video of one size")
                frames.append(frame)
        except ValueError as exc:
            if str(exc).startswith(f"video {p}"):
                raise
            raise ValueError(f"video {p} is not a readable animated image: {exc}") from exc
        except Exception as exc:  # truncated or corrupt frames
            raise ValueError(f"video {p} is not a readable animated image: {exc}") from exc
    return np.stack(frames)


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
