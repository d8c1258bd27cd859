"""A small synthetic scene for the demo, the benchmarks and the tests.

A ground plane receding to a horizon, a pillar standing on it and a ball in front of the pillar.
Everything is drawn procedurally, so image, depth and masks agree exactly. The shipped demo
assets in ``levitor/assets/demo`` are this scene at 288×512 (``python -m levitor.assets.demo_scene``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.media import save_png
from ..planning.scene import disparity8_to_depth
from ..planning.tracks import tracks_to_json

ASSET_DIR = Path(__file__).parent / "demo"


@dataclass
class DemoScene:
    image: np.ndarray  # (H, W, 3) uint8
    disparity8: np.ndarray  # (H, W) uint8, larger = nearer
    object_masks: list[np.ndarray]
    static_masks: list[np.ndarray]
    tracks: list[list[tuple[float, float, float]]]

    @property
    def depth(self) -> np.ndarray:
        return disparity8_to_depth(self.disparity8)


def make_demo_scene(width: int = 288, height: int = 512, *, n_balls: int = 1, n_static: int = 3) -> DemoScene:
    """Build the scene at any size. ``n_balls`` moved objects, ``n_static`` static segments
    (ground, pillar, and extra boxes when more are asked for)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    horizon = 0.35 * height
    ground = rows >= horizon
    # Disparity: sky far (small), ground growing towards the bottom.
    disp = np.where(ground, 20 + 200 * (rows - horizon) / max(height - horizon, 1), 4.0)
    image = np.zeros((height, width, 3), dtype=np.float64)
    sky = np.stack([110 + 60 * rows / height, 160 + 40 * rows / height, np.full_like(rows, 235)], -1)
    checker = ((np.floor(cols / (width / 8)) + np.floor(np.maximum(rows - horizon, 0) ** 0.8 / 6)) % 2)[..., None]
    grass = np.stack([70 + 0 * rows, 140 + 30 * rows / height, 60 + 0 * rows], -1) * (0.85 + 0.15 * checker)
    image[:] = np.where(ground[..., None], grass, sky)

    static_masks: list[np.ndarray] = [ground.copy()]
    # Pillar: a vertical box standing on the ground at mid depth.
    px0, px1 = 0.55 * width, 0.75 * width
    py0, py1 = 0.30 * height, 0.62 * height
    pillar = (cols >= px0) & (cols < px1) & (rows >= py0) & (rows < py1)
    pillar_disp = 20 + 200 * (py1 - horizon) / max(height - horizon, 1)
    disp[pillar] = pillar_disp
    shade = 0.75 + 0.25 * (cols - px0) / max(px1 - px0, 1)
    image[pillar] = (np.array([170, 120, 90])[None, :] * shade[pillar][:, None])
    static_masks[0] &= ~pillar
    static_masks.append(pillar)
    for b in range(max(0, n_static - 2)):
        bx = (0.05 + 0.9 * ((b * 0.37) % 1.0)) * width
        by = horizon + (0.1 + 0.8 * ((b * 0.61) % 1.0)) * (height - horizon)
        bw, bh = 0.06 * width, 0.04 * height
        box = (np.abs(cols - bx) < bw) & (np.abs(rows - by) < bh) & ~pillar
        disp[box] = 30 + 190 * (by + bh - horizon) / max(height - horizon, 1)
        image[box] = [200 - 20 * (b % 5), 180, 60 + 30 * (b % 4)]
        static_masks.append(box)
        static_masks[0] &= ~box

    object_masks: list[np.ndarray] = []
    tracks: list[list[tuple[float, float, float]]] = []
    for k in range(n_balls):
        cx = (0.22 + 0.5 * k / max(n_balls, 1)) * width
        cy = (0.72 - 0.08 * k) * height
        rad = 0.09 * min(width, height) * (1 - 0.2 * k)
        ball = (cols - cx) ** 2 + (rows - cy) ** 2 <= rad**2
        ball_disp = 20 + 200 * (cy + rad - horizon) / max(height - horizon, 1) + 10
        disp[ball] = ball_disp - 12 * (((cols[ball] - cx) ** 2 + (rows[ball] - cy) ** 2) / rad**2)
        light = np.clip(1.1 - 0.6 * np.hypot(cols - cx + rad / 3, rows - cy + rad / 3) / rad, 0.3, 1.1)
        colour = np.array([220, 50 + 60 * k, 40 + 80 * k], dtype=np.float64)
        image[ball] = colour[None, :] * light[ball][:, None]
        object_masks.append(ball)
        d_start = 1.0 / round(ball_disp)
        # Behind the pillar (farther than it, standing on the ground just behind its foot), then
        # out again and nearer to the camera.
        ground_disp = lambda row: 20 + 200 * (row - horizon) / max(height - horizon, 1)  # noqa: E731
        bottom_mid = py1 - 0.03 * height
        d_mid = 1.0 / (ground_disp(bottom_mid) + 4)
        y_mid = bottom_mid - rad * d_start / d_mid
        d_end = max(d_start * 0.7, 1.0 / 250)
        tracks.append([
            (cx, cy, d_start),
            (px0 + (0.5 + 0.2 * k) * (px1 - px0), y_mid, d_mid),
            ((0.5 - 0.1 * k) * width, (0.8 - 0.05 * k) * height, d_end),
        ])
        static_masks = [m & ~ball for m in static_masks]
    d8 = np.clip(disp, 0, 255).astype(np.uint8)
    img = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return DemoScene(image=img, disparity8=d8, object_masks=object_masks, static_masks=static_masks, tracks=tracks)


def write_demo_assets(folder: Path = ASSET_DIR, width: int = 288, height: int = 512) -> None:
    """Write the demo scene as PNGs and a tracks JSON into ``folder``."""
    scene = make_demo_scene(width, height)
    folder.mkdir(parents=True, exist_ok=True)
    save_png(scene.image, folder / "image.png")
    save_png(scene.disparity8, folder / "disparity8.png")
    for k, m in enumerate(scene.object_masks):
        save_png(m.astype(np.uint8) * 255, folder / f"object_{k}.png")
    for k, m in enumerate(scene.static_masks):
        save_png(m.astype(np.uint8) * 255, folder / f"static_{k}.png")
    rounded = [[(round(x, 1), round(y, 1), round(d, 5)) for x, y, d in t] for t in scene.tracks]
    text = tracks_to_json(rounded, image_size=(width, height), names=["ball"], indent=True)
    (folder / "tracks.json").write_text(text)


if __name__ == "__main__":  # pragma: no cover
    write_demo_assets()
    print(f"wrote {ASSET_DIR}")
