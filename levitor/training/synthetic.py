"""Synthetic video object segmentation data: moving, scaling and occluding shapes.

Every video has a textured background and a few coloured shapes (discs, boxes, ellipses) that
move along straight lines, grow or shrink, and are drawn far-to-near so nearer shapes occlude
farther ones. The generator returns frames, instance label maps and a disparity map per frame,
and writes them in the two dataset layouts the trainer reads:

* DAVIS: ``JPEGImages/<video>/00000.jpg`` + palette PNG ``Annotations/<video>/00000.png``;
* SA-V: ``<video>.mp4`` (or a frame folder ``<video>/00000.jpg``) + ``<video>_manual.json``
  with one list of COCO RLEs per annotated frame.

``python -m levitor.training.synthetic OUT_DIR --layout davis`` writes a small dataset.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rle import rle_encode


@dataclass
class SyntheticVideo:
    """One generated video: ``frames`` (F,H,W,3) uint8, ``labels`` (F,H,W) int32 with
    0 = background and 1..n = shapes, ``disparity`` (F,H,W) float32 (larger = nearer)."""

    frames: np.ndarray
    labels: np.ndarray
    disparity: np.ndarray


def _background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    c0, c1 = rng.integers(30, 200, 3), rng.integers(30, 200, 3)
    grad = rows[..., None] * c1 + (1 - rows[..., None]) * c0 + 0 * cols[..., None]
    freq = rng.uniform(4, 12, 2)
    stripes = 20 * np.sin(2 * np.pi * (freq[0] * rows + freq[1] * cols))
    image = np.clip(grad + stripes[..., None], 0, 255)
    disparity = 0.2 + 0.5 * rows + 0 * cols  # ground plane: lower rows are nearer
    return image.astype(np.float32), disparity.astype(np.float32)


def _shape_mask(kind: str, rows: np.ndarray, cols: np.ndarray, cy: float, cx: float, size: float,
                aspect: float) -> np.ndarray:
    if kind == "disc":
        return (rows - cy) ** 2 + (cols - cx) ** 2 <= size ** 2
    if kind == "box":
        return (np.abs(rows - cy) <= size) & (np.abs(cols - cx) <= size * aspect)
    return ((rows - cy) / size) ** 2 + ((cols - cx) / (size * aspect)) ** 2 <= 1.0


def make_video(rng: np.random.Generator | int, num_frames: int = 16, height: int = 128, width: int = 72,
               num_objects: int = 3, *, min_size_frac: float = 0.08, max_size_frac: float = 0.2) -> SyntheticVideo:
    """Generate one video of ``num_objects`` shapes moving, scaling and occluding each other."""
    if num_frames < 1 or height < 4 or width < 4:
        raise ValueError(f"need num_frames >= 1 and a frame of at least 4x4, got {num_frames}x{height}x{width}")
    if num_objects < 0:
        raise ValueError(f"num_objects must be >= 0, got {num_objects}")
    rng = np.random.default_rng(rng)
    bg, bg_disp = _background(rng, height, width)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    side = min(height, width)
    shapes = []
    for k in range(num_objects):
        start = rng.uniform([0.2 * height, 0.2 * width], [0.8 * height, 0.8 * width])
        end = rng.uniform([0.2 * height, 0.2 * width], [0.8 * height, 0.8 * width])
        s0 = rng.uniform(min_size_frac, max_size_frac) * side
        s1 = s0 * rng.uniform(0.6, 1.6)
        shapes.append(dict(
            kind=("disc", "box", "ellipse")[k % 3],
            start=start, end=end, size=(s0, s1), aspect=float(rng.uniform(0.6, 1.5)),
            colour=rng.integers(0, 256, 3).astype(np.float32),
            disp=(float(rng.uniform(0.75, 1.0)), float(rng.uniform(0.75, 1.0))),
        ))
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, height, width), dtype=np.int32)
    disparity = np.empty((num_frames, height, width), dtype=np.float32)
    for t in range(num_frames):
        a = t / max(num_frames - 1, 1)
        img = bg.copy()
        lab = np.zeros((height, width), dtype=np.int32)
        disp = bg_disp.copy()
        order = sorted(range(num_objects), key=lambda j: (1 - a) * shapes[j]["disp"][0] + a * shapes[j]["disp"][1])
        for j in order:  # far to near: nearer shapes overwrite (occlude) farther ones
            sh = shapes[j]
            cy, cx = (1 - a) * sh["start"] + a * sh["end"]
            size = (1 - a) * sh["size"][0] + a * sh["size"][1]
            m = _shape_mask(sh["kind"], rows, cols, cy, cx, size, sh["aspect"])
            shade = 0.75 + 0.25 * np.cos((rows - cy) / max(size, 1.0))
            img[m] = sh["colour"] * shade[m][:, None]
            lab[m] = j + 1
            disp[m] = (1 - a) * sh["disp"][0] + a * sh["disp"][1]
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
        labels[t] = lab
        disparity[t] = disp
    return SyntheticVideo(frames, labels, disparity)


def fake_disparity(image: np.ndarray) -> np.ndarray:
    """A cheap stand-in depth estimator: brighter and lower pixels are nearer. ``(H,W,3)`` -> ``(H,W)``."""
    image = np.asarray(image, dtype=np.float32)
    rows = np.linspace(0.0, 1.0, image.shape[0], dtype=np.float32)[:, None]
    return image.mean(axis=-1) / 255.0 + rows


def davis_palette() -> list[int]:
    """The usual VOS palette (index 0 black, then the PASCAL VOC colour map), 768 ints."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _save_jpeg(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(array).save(path, quality=95)


def write_davis_video(video: SyntheticVideo, root: str | os.PathLike, name: str, *,
                      depth_dir: str | os.PathLike | None = None) -> None:
    """Write one video in the DAVIS layout under ``root`` (and its disparity as 16-bit PNGs
    under ``depth_dir/<name>/`` when given)."""
    from PIL import Image

    root = Path(root)
    img_dir, ann_dir = root / "JPEGImages" / name, root / "Annotations" / name
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    pal = davis_palette()
    for t, (frame, lab) in enumerate(zip(video.frames, video.labels)):
        _save_jpeg(frame, img_dir / f"{t:05d}.jpg")
        ann = Image.fromarray(lab.astype(np.uint8), mode="P")
        ann.putpalette(pal)
        ann.save(ann_dir / f"{t:05d}.png")
    if depth_dir is not None:
        _write_depth_pngs(video.disparity, Path(depth_dir) / name)


def _write_depth_pngs(disparity: np.ndarray, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t, d in enumerate(disparity):
        lo, hi = float(d.min()), float(d.max())
        scaled = (d - lo) / max(hi - lo, 1e-8) * 65535.0
        Image.fromarray(scaled.astype(np.uint16)).save(folder / f"{t:05d}.png")


def write_sav_video(video: SyntheticVideo, root: str | os.PathLike, name: str, *, as_video: bool = True,
                    frame_stride: int = 1, fps: float = 24.0) -> None:
    """Write one video in the SA-V layout under ``root``: ``name.mp4`` (or a frame folder) and
    ``name_manual.json``. With ``frame_stride`` s > 1, the video holds s frames per annotated
    frame (SA-V: 24 fps video, masklets at 6 fps, s = 4); extra frames repeat the annotated one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    frames = np.repeat(video.frames, frame_stride, axis=0)
    n_frames, height, width = frames.shape[:3]
    if as_video:
        import av

        with av.open(str(root / f"{name}.mp4"), mode="w") as container:
            stream = container.add_stream("libx264", rate=int(round(fps)))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "12"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(frames):
            _save_jpeg(frame, folder / f"{t:05d}.jpg")
    n_obj = int(video.labels.max())
    masklet = [[rle_encode(lab == k + 1) for k in range(n_obj)] for lab in video.labels]
    meta = {
        "video_id": name,
        "video_frame_count": n_frames,
        "video_height": height,
        "video_width": width,
        "masklet_id": list(range(n_obj)),
        "masklet_num": n_obj,
        "masklet": masklet,
    }
    (root / f"{name}_manual.json").write_text(json.dumps(meta))


def write_dataset(root: str | os.PathLike, *, layout: str = "davis", num_videos: int = 4, num_frames: int = 24,
                  height: int = 128, width: int = 72, num_objects: int = 3, seed: int = 0,
                  as_video: bool = True, frame_stride: int = 1, depth_dir: str | os.PathLike | None = None) -> Path:
    """Write ``num_videos`` synthetic videos in ``layout`` (``"davis"`` or ``"sav"``) under ``root``."""
    if layout not in ("davis", "sav"):
        raise ValueError(f"layout must be 'davis' or 'sav', got {layout!r}")
    root = Path(root)
    for i in range(num_videos):
        video = make_video(np.random.default_rng([seed, i]), num_frames, height, width, num_objects)
        name = f"synth_{i:04d}"
        if layout == "davis":
            write_davis_video(video, root, name, depth_dir=depth_dir)
        else:
            write_sav_video(video, root, name, as_video=as_video, frame_stride=frame_stride)
            if depth_dir is not None:
                _write_depth_pngs(np.repeat(video.disparity, frame_stride, axis=0), Path(depth_dir) / name)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic video object segmentation dataset.")
    parser.add_argument("out_dir")
    parser.add_argument("--layout", choices=["davis", "sav"], default="davis")
    parser.add_argument("--num_videos", type=int, default=4)
    parser.add_argument("--num_frames", type=int, default=24)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=288)
    parser.add_argument("--num_objects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frame_folders", action="store_true", help="SA-V layout with JPEG folders instead of MP4")
    args = parser.parse_args(argv)
    write_dataset(args.out_dir, layout=args.layout, num_videos=args.num_videos, num_frames=args.num_frames,
                  height=args.height, width=args.width, num_objects=args.num_objects, seed=args.seed,
                  as_video=not args.frame_folders)
    print(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
