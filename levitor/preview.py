"""Preview images: coloured label maps over the start image, control points and track paths."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (uint8); entry 0 is black (unlabelled). Deterministic."""
    colours = np.zeros((max(n, 1), 3), dtype=np.uint8)
    golden = 0.618033988749895
    for i in range(1, n):
        h = (i * golden) % 1.0
        s = 0.65 + 0.35 * ((i * 7) % 3) / 2
        v = 0.95 - 0.25 * ((i * 5) % 2)
        colours[i] = np.round(255 * np.array(_hsv_to_rgb(h, s, v))).astype(np.uint8)
    return colours


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Colour a label map (any leading shape, last two = H, W): ``(..., H, W, 3)`` uint8."""
    labels = np.asarray(labels)
    n = int(labels.max()) + 1 if labels.size else 1
    return palette(max(n, 2))[np.clip(labels, 0, None)]


def _draw_points(canvas: Image.Image, keypoints: np.ndarray, colours: np.ndarray, size: int) -> None:
    draw = ImageDraw.Draw(canvas)
    for row, col, label, _ in np.asarray(keypoints).reshape(-1, 4).tolist():
        c = tuple(int(v) for v in colours[int(label) % len(colours)])
        draw.ellipse([col - size, row - size, col + size, row + size], fill=c, outline=(255, 255, 255))


def render_preview(plan, *, image_alpha: float = 0.4, point_size: int | None = None,
                   show_tracks: bool = True) -> np.ndarray:
    """Preview frames for a :class:`levitor.planning.plan.PlanResult`: ``(F, H, W, 3)`` uint8.

    The coloured label map of each frame is blended over the start image, the frame's control
    points are drawn as dots in their label's colour, and each track's path up to the frame as a
    white line.
    """
    return render_label_preview(plan.scene.image, plan.labels, plan.keypoints,
                                plan.trajectories if show_tracks else None,
                                image_alpha=image_alpha, point_size=point_size)


def render_label_preview(image: np.ndarray, labels: np.ndarray, keypoints: Sequence[np.ndarray] | None = None,
                         trajectories: np.ndarray | None = None, *, image_alpha: float = 0.4,
                         point_size: int | None = None) -> np.ndarray:
    """Blend per-frame label maps over ``image`` and draw keypoints and track paths."""
    labels = np.asarray(labels)
    n_frames, height, width = labels.shape
    n_colours = max(int(labels.max()) + 1, 2)
    if keypoints is not None:
        for k in keypoints:
            if len(k):
                n_colours = max(n_colours, int(np.asarray(k)[:, 2].max()) + 1)
    colours = palette(n_colours)
    base = np.asarray(image, dtype=np.float32)
    size = point_size if point_size is not None else max(2, round(min(height, width) / 120))
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        coloured = colours[labels[t]].astype(np.float32)
        blend = image_alpha * base + (1 - image_alpha) * coloured
        canvas = Image.fromarray(np.clip(np.rint(blend), 0, 255).astype(np.uint8))
        if trajectories is not None and len(trajectories):
            draw = ImageDraw.Draw(canvas)
            for traj in np.asarray(trajectories):
                path = [(float(x), float(y)) for x, y, _ in traj[: t + 1]]
                if len(path) > 1:
                    draw.line(path, fill=(255, 255, 255), width=max(1, size // 2))
        if keypoints is not None and t < len(keypoints):
            _draw_points(canvas, keypoints[t], colours, size)
        frames[t] = np.asarray(canvas)
    return frames


def heatmap_preview(control: np.ndarray) -> np.ndarray:
    """The heatmap channel of control maps as grey frames ``(F, H, W, 3)`` uint8."""
    heat = np.clip(np.asarray(control)[:, 0], 0, 255).astype(np.uint8)
    return np.repeat(heat[..., None], 3, axis=-1)
