"""Preview images: coloured label maps over the start image, control points and track paths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..io.jsontext import read_asset_json


def palette(n: int) -> np.ndarray:
    """``n`` RGB colours (uint8) indexed by label: entry 0 (unlabelled) black, label ``k + 1`` the
    colour of object ``k``. The colours are ``levitor/assets/palette.json``, which the editors
    read too (one object, one colour on every canvas); they repeat after 256 labels."""
    spec = read_asset_json("palette.json")
    objects = np.asarray(spec["objects"], dtype=np.uint8)
    colours = np.zeros((max(n, 1), 3), dtype=np.uint8)
    colours[0] = spec["unlabelled"]
    colours[1:] = objects[np.arange(len(colours) - 1) % len(objects)]
    return colours


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Colour a label map (any leading shape, last two = H, W): ``(..., H, W, 3)`` uint8."""
    labels = np.asarray(labels)
    n = int(labels.max()) + 1 if labels.size else 1
    return palette(max(n, 2))[np.clip(labels, 0, None)]


OUTLINE = (20, 20, 20)  # dark outline of control points: visible on light and dark areas alike
GHOST_LABEL = "ghost = start position"


def point_radius(height: int, width: int) -> int:
    """Control-point dot radius in pixels, scaled to the image (5 px at 288 px on the short side)."""
    return max(3, round(min(height, width) / 56))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _draw_points(canvas: Image.Image, keypoints: np.ndarray, colours: np.ndarray, size: int) -> None:
    """Filled dots in the label's colour with a dark outline (a third of the radius, at least 1 px)."""
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(size / 3))
    for row, col, label, _ in np.asarray(keypoints).reshape(-1, 4).tolist():
        c = tuple(int(v) for v in colours[int(label) % len(colours)])
        draw.ellipse([col - size, row - size, col + size, row + size], fill=c, outline=OUTLINE, width=width)


def _ghost(frame: np.ndarray, start: np.ndarray, current: np.ndarray, colour: np.ndarray) -> None:
    """Blend the object's start region (where it no longer is) towards white, its edge in its colour."""
    ghost = start & ~current
    frame[ghost] = (0.55 * frame[ghost] + 0.45 * 255).astype(np.uint8)
    edge = start.copy()
    edge[1:-1, 1:-1] &= ~(start[:-2, 1:-1] & start[2:, 1:-1] & start[1:-1, :-2] & start[1:-1, 2:])
    edge &= ~current
    frame[edge] = colour


def _draw_annotations(canvas: Image.Image, t: int, n_frames: int, colours: np.ndarray,
                      depths: list[float], font_size: int) -> None:
    """Frame number (top left) and a legend (bottom left): each object's colour and depth, the ghost."""
    draw = ImageDraw.Draw(canvas, "RGBA")
    font = _font(font_size)
    pad = max(2, font_size // 3)
    header = f"frame {t + 1}/{n_frames}"
    box = draw.textbbox((pad, pad), header, font=font)
    draw.rectangle([0, 0, box[2] + pad, box[3] + pad], fill=(0, 0, 0, 150))
    draw.text((pad, pad), header, fill=(255, 255, 255), font=font)
    rows = [(colours[k + 1], f"object {k + 1}  depth {d:.4f}") for k, d in enumerate(depths)]
    rows.append((None, GHOST_LABEL))
    line = font_size + pad
    swatch = font_size
    text_w = max(draw.textbbox((0, 0), text, font=font)[2] for _, text in rows)
    h = canvas.height
    top = h - pad - line * len(rows) - pad
    draw.rectangle([0, top, pad * 3 + swatch + text_w, h], fill=(0, 0, 0, 150))
    for i, (colour, text) in enumerate(rows):
        y = top + pad + i * line
        sw = [pad, y, pad + swatch, y + swatch]
        if colour is None:  # the ghost: a light box with a white edge
            draw.rectangle(sw, fill=(230, 230, 230, 140), outline=(255, 255, 255), width=1)
        else:
            draw.rectangle(sw, fill=tuple(int(v) for v in colour), outline=OUTLINE, width=1)
        draw.text((pad * 2 + swatch, y), text, fill=(255, 255, 255), font=font)


def render_preview(plan, *, image_alpha: float = 0.4, point_size: int | None = None,
                   show_tracks: bool = True, annotate: bool = True) -> np.ndarray:
    """Preview frames for a :class:`levitor.planning.plan.PlanResult`: ``(F, H, W, 3)`` uint8.

    The coloured label map of each frame is blended over the start image, the frame's control
    points are drawn as dots in their label's colour with a dark outline, and each track's path up
    to the frame as a white line. With ``annotate`` each moved object's start region shows as a
    light ghost, and the frame number and a legend (object colours, each object's depth in the
    frame, the ghost) are drawn.
    """
    moved = plan.scene.num_tracks  # a camera move's background gets no ghost or legend line
    return render_label_preview(plan.scene.image, plan.labels, plan.keypoints,
                                plan.trajectories if show_tracks else None,
                                image_alpha=image_alpha, point_size=point_size,
                                num_objects=moved if annotate else 0,
                                object_depths=plan.trajectories[:moved, :, 2] if annotate else None)


def render_label_preview(image: np.ndarray, labels: np.ndarray, keypoints: Sequence[np.ndarray] | None = None,
                         trajectories: np.ndarray | None = None, *, image_alpha: float = 0.4,
                         point_size: int | None = None, num_objects: int = 0,
                         object_depths: np.ndarray | None = None) -> np.ndarray:
    """Blend per-frame label maps over ``image`` and draw keypoints and track paths.

    ``num_objects > 0`` adds the ghosts of objects ``1..num_objects`` at their frame-0 place, the
    frame number and the legend; ``object_depths`` ``(num_objects, F)`` are the depths it lists.
    """
    labels = np.asarray(labels)
    n_frames, height, width = labels.shape
    n_colours = max(int(labels.max()) + 1, 2, num_objects + 1)
    if keypoints is not None:
        for k in keypoints:
            if len(k):
                n_colours = max(n_colours, int(np.asarray(k)[:, 2].max()) + 1)
    colours = palette(n_colours)
    base = np.asarray(image, dtype=np.float32)
    size = point_size if point_size is not None else point_radius(height, width)
    font_size = max(9, round(min(height, width) / 26))
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        coloured = colours[labels[t]].astype(np.float32)
        blend = np.clip(np.rint(image_alpha * base + (1 - image_alpha) * coloured), 0, 255).astype(np.uint8)
        for k in range(1, num_objects + 1):
            _ghost(blend, labels[0] == k, labels[t] == k, colours[k])
        canvas = Image.fromarray(blend)
        if trajectories is not None and len(trajectories):
            draw = ImageDraw.Draw(canvas)
            for traj in np.asarray(trajectories):
                path = [(float(x), float(y)) for x, y, _ in traj[: t + 1]]
                if len(path) > 1:
                    draw.line(path, fill=(255, 255, 255), width=max(1, size // 2))
        if keypoints is not None and t < len(keypoints):
            _draw_points(canvas, keypoints[t], colours, size)
        if num_objects:
            depths = [] if object_depths is None else [float(object_depths[k][t]) for k in range(num_objects)]
            _draw_annotations(canvas, t, n_frames, colours, depths, font_size)
        frames[t] = np.asarray(canvas)
    return frames


def heatmap_preview(control: np.ndarray) -> np.ndarray:
    """The heatmap channel of control maps as grey frames ``(F, H, W, 3)`` uint8."""
    heat = np.clip(np.asarray(control)[:, 0], 0, 255).astype(np.uint8)
    return np.repeat(heat[..., None], 3, axis=-1)


HIDDEN = (150, 150, 150)  # a point track's stretches where it is hidden


def draw_point_tracks(background: np.ndarray, paths: np.ndarray, visibility: np.ndarray, objects: np.ndarray, *,
                      trail: int = 24, point_size: int | None = None) -> np.ndarray:
    """Point tracks drawn over ``background`` ``(H, W, 3)`` uint8: ``(T, H, W, 3)`` uint8.

    ``paths`` ``(T, N, 2)`` ``(x, y)`` pixels, ``visibility`` ``(T, N)``, ``objects`` ``(N,)`` (0 =
    static anchor). In frame *t* each point shows its last ``trail`` frames of path: solid in its
    object's colour where visible, a thin grey line where hidden; the point itself is a filled
    dot when visible and a grey ring when hidden (behind a nearer surface, behind the camera or
    out of the frame)."""
    paths = np.asarray(paths, dtype=np.float64)
    visibility = np.asarray(visibility, dtype=bool)
    objects = np.asarray(objects)
    n_frames = paths.shape[0]
    height, width = np.asarray(background).shape[:2]
    colours = palette(max(int(objects.max()) + 1 if objects.size else 1, 2))
    anchor = (255, 255, 255)
    size = point_size if point_size is not None else max(2, point_radius(height, width) - 1)
    line = max(1, size // 2)
    base = Image.fromarray(np.ascontiguousarray(np.asarray(background, dtype=np.uint8)))
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        canvas = base.copy()
        draw = ImageDraw.Draw(canvas)
        lo = max(0, t - trail)
        for n in range(paths.shape[1]):
            colour = anchor if objects[n] == 0 else tuple(int(c) for c in colours[int(objects[n])])
            for s in range(lo, t):
                a, b = paths[s, n], paths[s + 1, n]
                if visibility[s, n] and visibility[s + 1, n]:
                    draw.line([tuple(a), tuple(b)], fill=colour, width=line)
                else:
                    draw.line([tuple(a), tuple(b)], fill=HIDDEN, width=1)
            x, y = paths[t, n]
            box = [x - size, y - size, x + size, y + size]
            if visibility[t, n]:
                draw.ellipse(box, fill=colour, outline=OUTLINE, width=1)
            else:
                draw.ellipse(box, outline=HIDDEN, width=1)
        frames[t] = np.asarray(canvas)
    return frames
