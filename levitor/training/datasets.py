"""Video object segmentation datasets: finding videos and reading frames and instance masks.

Two layouts are read:

* **DAVIS**: ``<root>/JPEGImages[/<res>]/<video>/<frame>.jpg`` with palette (or grey) PNGs of the
  same stem in ``<root>/Annotations[/<res>]/<video>/``; pixel value = instance id, 0 = background,
  255 = void (treated as background).
* **SA-V**: ``<video>.mp4`` (or a frame folder ``<video>/*.jpg``) next to
  ``<video>_manual.json`` (or ``_auto.json``), anywhere under ``<root>``. The JSON's ``masklet``
  holds one list of COCO RLEs (one per masklet) per *annotated* frame; annotated frames are every
  ``s``-th video frame, ``s = round(video_frame_count / len(masklet))`` (4 for SA-V's 24 fps
  videos annotated at 6 fps).

Every problem found (missing annotations, size mismatch, empty videos, unreadable or damaged
files) is a :class:`DataProblem` naming the file; :class:`BadDataError` carries one when it is
raised. A scan never stops at one bad video: whatever goes wrong while one video is looked at
becomes that video's problem and the scan goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..limits import check_read_size
from .rle import RLEError, rle_decode, rle_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")

# What reading one damaged file can raise besides BadDataError: caught per video by the scans.
READ_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError)


class BadDataError(ValueError):
    """A dataset file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class DataProblem:
    """One unusable file or video found while scanning or reading a dataset."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class VideoRecord:
    """One video of a dataset and where its frames and annotations live."""

    name: str
    layout: str  # "davis" or "sav"
    num_annotated: int  # annotated frames (the frames clips are drawn from)
    frames: list[Path] = field(default_factory=list)  # image files (DAVIS, SA-V frame folders)
    annotations: list[Path] = field(default_factory=list)  # per-frame PNGs (DAVIS)
    video_file: Path | None = None  # SA-V video
    masklet_json: Path | None = None  # SA-V annotations
    frame_stride: int = 1  # video frames per annotated frame (SA-V)

    def frame_key(self, index: int) -> str:
        """A stable name for annotated frame ``index`` (used for depth files)."""
        if self.frames:
            return self.frames[index * self.frame_stride].stem
        return f"{index * self.frame_stride:05d}"

    @property
    def source(self) -> Path:
        """The file or folder that holds the frames (for messages)."""
        if self.video_file is not None:
            return self.video_file
        return self.frames[0].parent if self.frames else Path(self.name)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the image header; BadDataError if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.height, img.width
    except Exception as exc:
        raise BadDataError(path, f"not a readable image ({exc})") from exc


def _davis_dirs(root: Path, resolution: str | None) -> tuple[Path, Path]:
    img_root, ann_root = root / "JPEGImages", root / "Annotations"
    if not img_root.is_dir() or not ann_root.is_dir():
        raise ValueError(f"{root} is not a DAVIS-style dataset: expected JPEGImages/ and Annotations/ folders")
    if resolution:
        img_root, ann_root = img_root / resolution, ann_root / resolution
        if not img_root.is_dir() or not ann_root.is_dir():
            raise ValueError(f"{root}: no JPEGImages/{resolution} and Annotations/{resolution}; check --davis_resolution")
        return img_root, ann_root
    subdirs = [p for p in img_root.iterdir() if p.is_dir()]
    # JPEGImages/480p/<video>/... : a resolution level whose videos hold folders, not images
    if subdirs and all(not _images_in(p) and any(q.is_dir() for q in p.iterdir()) for p in subdirs):
        names = sorted(p.name for p in subdirs)
        pick = "480p" if "480p" in names else names[0]
        return img_root / pick, ann_root / pick
    return img_root, ann_root


def scan_davis(root: str | os.PathLike, *, resolution: str | None = None,
               check_sizes: bool = True) -> tuple[list[VideoRecord], list[DataProblem]]:
    """Find the videos of a DAVIS-style dataset. Returns the usable videos and the problems."""
    img_root, ann_root = _davis_dirs(Path(root), resolution)
    records: list[VideoRecord] = []
    problems: list[DataProblem] = []
    for vdir in sorted(p for p in img_root.iterdir() if p.is_dir()):
        try:
            record = _scan_davis_video(vdir, ann_root / vdir.name, check_sizes)
        except BadDataError as exc:
            problems.append(DataProblem(exc.path, exc.reason))
        except READ_ERRORS as exc:
            problems.append(DataProblem(str(vdir), f"could not be read ({type(exc).__name__}: {exc})"))
        else:
            records.append(record)
    return records, problems


def _scan_davis_video(vdir: Path, adir: Path, check_sizes: bool) -> VideoRecord:
    """One DAVIS video; BadDataError names what is wrong."""
    frames = _images_in(vdir)
    if not frames:
        raise BadDataError(vdir, "video folder has no frames")
    if not adir.is_dir():
        raise BadDataError(adir, "annotation folder is missing")
    by_stem = {p.stem: p for p in _images_in(adir) if p.suffix.lower() == ".png"}
    missing = [f for f in frames if f.stem not in by_stem]
    if missing:
        raise BadDataError(adir / (missing[0].stem + ".png"),
                           f"annotation is missing ({len(missing)} of {len(frames)} frames have none)")
    annotations = [by_stem[f.stem] for f in frames]
    if check_sizes:
        fsize, asize = _image_size(frames[0]), _image_size(annotations[0])
        if fsize != asize:
            raise BadDataError(annotations[0], f"annotation is {asize[1]}x{asize[0]} but frame "
                                               f"{frames[0].name} is {fsize[1]}x{fsize[0]} (W x H)")
    return VideoRecord(vdir.name, "davis", len(frames), frames=frames, annotations=annotations)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON
        raise BadDataError(path, f"not readable JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("masklet"), list):
        raise BadDataError(path, "has no 'masklet' list (expected SA-V masklet annotations)")
    for i, entries in enumerate(data["masklet"]):
        if not isinstance(entries, list):
            raise BadDataError(path, f"annotated frame {i} is not a list of masklets (got {type(entries).__name__})")
    return data


def _check_masklet_sizes(data: dict, path: Path, expected: tuple[int | None, int | None]) -> None:
    """BadDataError when an RLE's size is malformed or differs from ``expected`` (height, width;
    from the first RLE when unknown). Nothing is decoded."""
    size = None if None in expected else tuple(expected)
    for i, entries in enumerate(data["masklet"]):
        for k, rle in enumerate(entries):
            if rle is None:
                continue
            try:
                hw = rle_size(rle)
            except RLEError as exc:
                raise BadDataError(path, f"masklet {k} of annotated frame {i}: {exc}") from None
            if size is None:
                size = hw
            elif hw != size:
                raise BadDataError(path, f"masklet size {list(hw)} (H, W) of masklet {k}, annotated frame {i}, does "
                                         f"not match the video's {list(size)}")


def _json_int(value: Any) -> int | None:
    """A count or size from the JSON as an int (None when absent, not a number or not positive)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
        out = int(number)
    except (ValueError, OverflowError):
        return None
    return out if out > 0 and out == number else None


def _video_frame_count(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for _ in container.demux(stream) if _.size)
    except Exception as exc:
        raise BadDataError(path, f"video could not be opened ({exc})") from exc


def scan_sav(root: str | os.PathLike, *, annotation: str = "manual",
             check_sizes: bool = True) -> tuple[list[VideoRecord], list[DataProblem]]:
    """Find the videos of an SA-V-style dataset (``annotation``: ``"manual"`` or ``"auto"``)."""
    if annotation not in ("manual", "auto"):
        raise ValueError(f"SA-V annotation must be 'manual' or 'auto', got {annotation!r}")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    suffix = f"_{annotation}.json"
    records: list[VideoRecord] = []
    problems: list[DataProblem] = []
    for jpath in sorted(root.rglob(f"*{suffix}")):
        name = jpath.name[: -len(suffix)]
        folder = jpath.parent / name
        videos = [jpath.parent / (name + s) for s in VIDEO_SUFFIXES if (jpath.parent / (name + s)).is_file()]
        try:
            records.append(_scan_sav_video(name, jpath, videos, folder, check_sizes))
        except BadDataError as exc:
            problems.append(DataProblem(exc.path, exc.reason))
        except READ_ERRORS as exc:
            problems.append(DataProblem(str(jpath), f"could not be read ({type(exc).__name__}: {exc})"))
    return records, problems


def _scan_sav_video(name: str, jpath: Path, videos: list[Path], folder: Path, check_sizes: bool) -> VideoRecord:
    """One SA-V video; BadDataError names what is wrong."""
    data = _read_json(jpath)
    n_ann = len(data["masklet"])
    if n_ann == 0:
        raise BadDataError(jpath, "has no annotated frames")
    frames: list[Path] = []
    video_file = None
    if videos:
        video_file = videos[0]
        n_frames = _json_int(data.get("video_frame_count")) or _video_frame_count(video_file)
    elif folder.is_dir():
        frames = _images_in(folder)
        n_frames = len(frames)
    else:
        raise BadDataError(jpath.parent / (name + ".mp4"), "video file (or frame folder) is missing")
    if n_frames == 0:
        raise BadDataError(video_file or folder, "video has no frames")
    stride = max(1, round(n_frames / n_ann))
    usable = min(n_ann, (n_frames - 1) // stride + 1)
    if check_sizes:
        video_size = _image_size(frames[0]) if frames else (_json_int(data.get("video_height")),
                                                             _json_int(data.get("video_width")))
        _check_masklet_sizes(data, jpath, video_size)
    return VideoRecord(name, "sav", usable, frames=frames, video_file=video_file,
                       masklet_json=jpath, frame_stride=stride)


def detect_layout(root: str | os.PathLike) -> str:
    """``"davis"`` if ``root`` has JPEGImages/ and Annotations/, ``"sav"`` if it holds ``*_manual.json``
    or ``*_auto.json`` files."""
    root = Path(root)
    if (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir():
        return "davis"
    for _ in root.rglob("*_manual.json"):
        return "sav"
    for _ in root.rglob("*_auto.json"):
        return "sav"
    raise ValueError(f"{root}: neither a DAVIS layout (JPEGImages/ + Annotations/) nor an SA-V layout "
                     f"(*_manual.json next to videos); pass --dataset_layout or fix the path")


def scan_dataset(root: str | os.PathLike, layout: str = "auto", *, min_frames: int = 1,
                 davis_resolution: str | None = None, sav_annotation: str = "manual",
                 ) -> tuple[list[VideoRecord], list[DataProblem]]:
    """Scan ``root`` in ``layout`` (``"auto"``, ``"davis"``, ``"sav"``); videos with fewer than
    ``min_frames`` annotated frames are reported as problems."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "davis":
        records, problems = scan_davis(root, resolution=davis_resolution)
    elif layout == "sav":
        records, problems = scan_sav(root, annotation=sav_annotation)
    else:
        raise ValueError(f"dataset layout must be 'auto', 'davis' or 'sav', got {layout!r}")
    keep = []
    for rec in records:
        if rec.num_annotated < min_frames:
            problems.append(DataProblem(str(rec.source), f"has {rec.num_annotated} annotated frames, "
                                                         f"clips need {min_frames}"))
        else:
            keep.append(rec)
    return keep, problems


# ----------------------------------------------------------------------------------- reading


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            check_read_size(*img.size, what="the image")  # from the header, before decoding
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise BadDataError(path, f"not a readable image ({exc})") from exc


def _read_annotation(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            check_read_size(*img.size, what="the annotation")  # from the header, before decoding
            if img.mode in ("P", "L", "I", "I;16"):
                arr = np.asarray(img).astype(np.int32)
            elif img.mode in ("RGB", "RGBA"):
                rgb = np.asarray(img.convert("RGB")).astype(np.int32)
                arr = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # colour-coded instances
            else:
                arr = np.asarray(img.convert("L")).astype(np.int32)
    except Exception as exc:
        raise BadDataError(path, f"not a readable annotation PNG ({exc})") from exc
    if img.mode in ("P", "L"):
        arr[arr == 255] = 0  # DAVIS void
    return arr


def read_video_frames(path: Path, indices: Sequence[int]) -> np.ndarray:
    """Decode the frames at ``indices`` (ascending video frame numbers) of a video file."""
    import av

    wanted = sorted(set(int(i) for i in indices))
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            check_read_size(stream.codec_context.width, stream.codec_context.height, "a frame")
            rate = float(stream.average_rate or stream.guessed_rate or 24)
            tb = float(stream.time_base)
            start_pts = stream.start_time or 0
            first_t = wanted[0] / rate
            if first_t > 1.0:
                container.seek(int(start_pts + max(first_t - 0.5, 0) / tb), stream=stream, backward=True)
            count = None
            for frame in container.decode(stream):
                if frame.pts is not None:
                    idx = int(round((frame.pts - start_pts) * tb * rate))
                else:
                    count = 0 if count is None else count + 1
                    idx = count
                if idx in got or idx not in wanted:
                    if idx > wanted[-1]:
                        break
                    continue
                got[idx] = frame.to_ndarray(format="rgb24")
                if len(got) == len(wanted):
                    break
    except BadDataError:
        raise
    except Exception as exc:
        raise BadDataError(path, f"video could not be decoded ({exc})") from exc
    missing = [i for i in wanted if i not in got]
    if missing:
        raise BadDataError(path, f"video ends before frame {missing[0]} ({len(got)} of {len(wanted)} frames decoded)")
    return np.stack([got[int(i)] for i in indices])


def _masklets_to_labels(entries: list, path: Path, frame_no: int, shape: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int32)
    masks = []
    for k, rle in enumerate(entries):
        if rle is None:
            continue
        try:
            m = rle_decode(rle, shape=shape)  # size checked before the mask is allocated
        except RLEError as exc:
            raise BadDataError(path, f"masklet {k} of annotated frame {frame_no}: {exc}") from exc
        masks.append((int(m.sum()), k, m))
    for _, k, m in sorted(masks, key=lambda x: -x[0]):  # larger first: smaller (nested) masklets stay visible
        labels[m] = k + 1
    return labels


_JSON_CACHE: dict[str, tuple[tuple[int, int], dict]] = {}


def _masklet_data(path: Path) -> dict:
    key = str(path)
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (-1, -1)
    hit = _JSON_CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    if not path.exists():
        raise BadDataError(path, "annotation file is missing")
    data = _read_json(path)
    if len(_JSON_CACHE) > 64:
        _JSON_CACHE.clear()
    _JSON_CACHE[key] = (stamp, data)
    return data


def load_clip(record: VideoRecord, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(F, H, W, 3)`` uint8 and instance labels ``(F, H, W)`` int32 (0 = background) of
    the annotated frames ``indices`` of ``record``. Raises :class:`BadDataError` naming the file."""
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices must not be empty")
    if min(indices) < 0 or max(indices) >= record.num_annotated:
        raise BadDataError(record.source, f"frames {min(indices)}..{max(indices)} requested but only "
                                          f"{record.num_annotated} are annotated")
    if record.layout == "davis":
        frames, labels = [], []
        for i in indices:
            img = _read_rgb(record.frames[i])
            ann = _read_annotation(record.annotations[i])
            if ann.shape != img.shape[:2]:
                raise BadDataError(record.annotations[i], f"annotation is {ann.shape[1]}x{ann.shape[0]} but frame "
                                                          f"{record.frames[i].name} is {img.shape[1]}x{img.shape[0]}")
            if frames and img.shape != frames[0].shape:
                raise BadDataError(record.frames[i], f"frame size {img.shape[1]}x{img.shape[0]} differs from the "
                                                     f"video's {frames[0].shape[1]}x{frames[0].shape[0]}")
            frames.append(img)
            labels.append(ann)
        return np.stack(frames), np.stack(labels)
    if record.layout != "sav":
        raise ValueError(f"unknown layout {record.layout!r}")
    data = _masklet_data(record.masklet_json)
    vidx = [i * record.frame_stride for i in indices]
    if record.video_file is not None:
        frames = read_video_frames(record.video_file, vidx)
    else:
        imgs = []
        for v in vidx:
            if v >= len(record.frames):
                raise BadDataError(record.source, f"frame folder has {len(record.frames)} frames, frame {v} needed")
            imgs.append(_read_rgb(record.frames[v]))
        if any(im.shape != imgs[0].shape for im in imgs):
            raise BadDataError(record.source, "frames of the folder differ in size")
        frames = np.stack(imgs)
    shape = frames.shape[1:3]
    masklet = data["masklet"]
    if max(indices) >= len(masklet):
        raise BadDataError(record.masklet_json, f"has {len(masklet)} annotated frames, frame {max(indices)} needed")
    labels = np.stack([_masklets_to_labels(masklet[i], record.masklet_json, i, shape) for i in indices])
    return frames, labels


def relabel_instances(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map the instance ids of a clip to ``1..n`` (ascending id order); 0 stays background."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return labels.astype(np.int32), 0
    if labels.min() >= 0 and labels.max() < 1 << 16:  # small ids: a lookup table is much faster
        present = np.bincount(labels.ravel(), minlength=1) > 0
        present[0] = False
        lut = np.zeros(len(present), dtype=np.int32)
        n = int(present.sum())
        lut[present] = np.arange(1, n + 1, dtype=np.int32)
        return lut[labels], n
    ids = np.unique(labels)
    ids = ids[ids != 0]
    lut_keys = np.concatenate([[0], ids])
    out = np.searchsorted(lut_keys, labels).astype(np.int32)
    return out, int(len(ids))

