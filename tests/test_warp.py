"""The warped video, against answers worked out here: where a moved object's pixels land, what
hides it, how its size follows depth, what happens to the place it left and to everything else."""

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_fill_holes

import levitor
from conftest import box, disc
from levitor.planning.options import PlanOptions
from levitor.planning.stages import build_scene, render_stage
from levitor.planning.warp import fill_from_around, warp_render, warp_source, warped_video

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (40, 160, 60)
H, W = 64, 128


def _is(frame, colour):
    return np.all(frame == np.array(colour, dtype=np.uint8), axis=-1)


def _ball_and_pillar():
    """A red ball (depth 0.5) left of a nearer blue pillar (static, depth 0.2) on a green
    background that the render treats as far."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = GREEN
    ball = disc((H, W), 32, 20, 8)
    pillar = box((H, W), 0, H, 60, 72)
    img[ball], img[pillar] = RED, BLUE
    depth = np.full((H, W), 0.8)
    depth[ball], depth[pillar] = 0.5, 0.2
    return img, depth, ball, pillar


def test_a_ball_sliding_behind_a_nearer_pillar():
    img, depth, ball, pillar = _ball_and_pillar()
    T = 9
    out = warped_video(img, depth, [ball], [pillar], [[[20, 32, 0.5], [110, 32, 0.5]]], num_frames=T)
    assert out.frames.shape == (T, H, W, 3) and out.frames.dtype == np.uint8
    assert out.mask.shape == (T, H, W) and out.mask.dtype == bool
    in_the_open = behind = 0
    for t in range(T):
        cx = 20 + 90 * t / (T - 1)  # two track points: a straight line
        frame = out.frames[t]
        # the pillar is nearer: it stays blue, whatever passes behind it
        assert _is(frame[pillar.nonzero()], BLUE).all()
        # the ball's moved place (shifted by the track): red where it is in the open
        moved = disc((H, W), 32, cx, 7)
        open_part = moved & ~box((H, W), 0, H, 59, 73)
        assert _is(frame[open_part.nonzero()], RED).all(), t
        in_the_open += open_part.any()
        behind += (moved & pillar).any()
        # the mask holds the ball's moved place in the open (frame 0 is the still image)
        assert out.mask[t][open_part].all() == (t > 0)
    assert in_the_open == T and behind >= 2  # the checks above saw both cases


def test_pixels_no_object_reaches_keep_their_colours_and_are_outside_the_mask():
    img, depth, ball, pillar = _ball_and_pillar()
    rng = np.random.default_rng(0)
    img[~ball & ~pillar] = rng.integers(0, 256, size=(int((~ball & ~pillar).sum()), 3))  # a textured background
    T = 6
    out = warped_video(img, depth, [ball], [pillar], [[[20, 32, 0.5], [100, 20, 0.5]]], num_frames=T)
    for t in range(T):
        cx, cy = 20 + 80 * t / (T - 1), 32 - 12 * t / (T - 1)
        # the ball (radius 8) at rest and at frame t, with 2 pixels for the splat's edge
        reached = disc((H, W), 32, 20, 10) | disc((H, W), cy, cx, 10)
        assert not out.mask[t][~reached].any()
        assert np.array_equal(out.frames[t][~reached], img[~reached])
        # wherever the mask is off, the frame is the still image exactly
        assert np.array_equal(out.frames[t][~out.mask[t]], img[~out.mask[t]])
    assert not out.mask[0].any() and np.array_equal(out.frames[0], img)  # frame 0 is the still image


def test_an_object_twice_as_near_covers_four_times_the_area_without_holes():
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = GREEN
    square = box((H, W), 26, 38, 58, 70)  # 12 x 12 about the image centre (64, 32)
    img[square] = RED
    depth = np.full((H, W), 1.0)
    depth[square] = 0.5
    out = warped_video(img, depth, [square], [], [[[64, 32, 0.5], [64, 32, 0.25]]], num_frames=3)
    red0, red1 = _is(out.frames[0], RED), _is(out.frames[-1], RED)
    assert red0.sum() == 144
    assert 3.6 <= red1.sum() / red0.sum() <= 4.6  # 24 x 24 = 576, give or take the silhouette's edge
    assert np.array_equal(binary_fill_holes(red1), red1)  # no holes inside the scaled object
    rows, cols = np.nonzero(red1)
    assert rows.max() - rows.min() + 1 in (24, 25, 26) and cols.max() - cols.min() + 1 in (24, 25, 26)


def test_the_moved_texture_comes_from_the_inverse_projection():
    """Each output pixel of the object shows the source column the projection sends there."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = GREEN
    obj = box((H, W), 20, 44, 30, 70)
    cols = np.broadcast_to(np.arange(W), (H, W))
    img[obj, 0] = cols[obj] * 2  # red encodes the source column
    img[obj, 1] = 0
    depth = np.full((H, W), 1.0)
    depth[obj] = 0.4
    dx, dd = 10.0, -0.1  # right by 10 and nearer: rho = 0.4 / 0.3
    out = warped_video(img, depth, [obj], [], [[[50, 32, 0.4], [50 + dx, 32, 0.4 + dd]]], num_frames=2)
    frame = out.frames[1]
    rho = 0.4 / 0.3
    rr, cc = np.mgrid[:H, :W]
    u = W / 2 + (cc - W / 2) / rho - dx  # x = W/2 + (u + dx - W/2) * rho, solved for u
    v = H / 2 + (rr - H / 2) / rho
    inside = (u >= 31) & (u <= 68) & (v >= 21) & (v <= 42)  # away from the object's own edge
    assert inside.sum() > 1000 and out.mask[1][inside].all()
    expected = np.clip(2 * u[inside], 0, 255)
    assert np.abs(frame[..., 0][inside].astype(float) - expected).max() <= 1.0
    assert (frame[..., 1][inside] == 0).all()


def test_the_vacated_place_is_masked_and_filled_with_the_background():
    img = np.zeros((H, W, 3), np.uint8)
    rows, cols = np.mgrid[:H, :W]
    img[..., 1] = 60 + cols  # a smooth green-blue background
    img[..., 2] = 100 + rows
    ball = disc((H, W), 32, 30, 8)
    img[ball] = RED
    depth = np.full((H, W), 1.0)
    depth[ball] = 0.5
    out = warped_video(img, depth, [ball], [], [[[30, 32, 0.5], [100, 32, 0.5]]], num_frames=4)
    left = ball & ~disc((H, W), 32, 100, 10)
    frame = out.frames[-1].astype(float)
    assert out.mask[-1][left].all()
    assert not _is(out.frames[-1][left], RED).any()
    background = img.astype(float)
    background[ball] = np.stack([np.zeros(ball.sum()), 60 + cols[ball], 100 + rows[ball]], axis=-1)
    err = np.abs(frame[left] - background[left]).max(axis=-1)
    assert err.mean() < 6 and err.max() < 20  # the gradient around, not the ball's red


def test_a_camera_pan_shifts_the_background_and_fills_the_revealed_edge():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    obj = box((H, W), 10, 20, 10, 20)
    depth = np.full((H, W), 0.5)
    tracks = [[[15, 15, 0.5]]]  # the object stays
    camera = [[64, 32, 0.5], [70, 32, 0.5]]  # the background moves right by 6 pixels
    out = warped_video(img, depth, [obj], [], tracks, num_frames=2, camera_track=camera)
    frame = out.frames[1]
    far = np.ones((H, W), bool)
    far[:, :8] = False  # the revealed edge and the splat's rim
    far[:, -2:] = False
    far[8:23, 8:28] = False  # around the object and where it was
    r, c = np.nonzero(far)
    assert np.array_equal(frame[r, c], img[r, c - 6])
    assert out.mask[1][:, :6].all()  # the revealed edge is masked (and filled)
    assert np.array_equal(frame[obj], img[obj])  # the object that stays keeps its pixels


def test_a_frame_subset_and_a_render_give_the_same_frames():
    img, depth, ball, pillar = _ball_and_pillar()
    tracks = [[[20, 32, 0.5], [60, 20, 0.4], [110, 32, 0.6]]]
    full = warped_video(img, depth, [ball], [pillar], tracks, num_frames=7)
    part = warped_video(img, depth, [ball], [pillar], tracks, num_frames=7, frames=[5, 2])
    assert np.array_equal(part.frames, full.frames[[5, 2]]) and np.array_equal(part.mask, full.mask[[5, 2]])
    opts = PlanOptions(num_frames=7)
    scene = build_scene(img, depth, [ball], [pillar], opts)
    render = render_stage(scene, tracks, opts)
    again = warp_render(render, warp_source(scene))
    assert np.array_equal(again.frames, full.frames)
    with pytest.raises(ValueError, match="another scene"):
        warp_render(render, warp_source(build_scene(img, depth, [ball], [pillar], opts)))


def test_fill_from_around_interpolates_and_keeps_known_pixels():
    img = torch.zeros(1, 8, 16)
    img[0] = torch.arange(16, dtype=torch.float32)  # a ramp along x
    hole = torch.zeros(8, 16, dtype=torch.bool)
    hole[:, 6:10] = True
    damaged = torch.where(hole, torch.tensor(255.0), img)
    filled = fill_from_around(damaged, hole, ~hole)
    assert torch.equal(filled[:, ~hole], img[:, ~hole])
    assert ((filled[0, :, 6:10] >= 4) & (filled[0, :, 6:10] <= 11)).all()  # between the hole's sides


def test_bad_inputs_are_named_before_work():
    img, depth, ball, pillar = _ball_and_pillar()
    with pytest.raises(ValueError, match="num_frames"):
        warped_video(img, depth, [ball], [pillar], [[[20, 32, 0.5]]], num_frames=0)
    with pytest.raises(ValueError, match="tracks"):
        warped_video(img, depth, [ball], [pillar], None, num_frames=4)
    with pytest.raises(ValueError, match="tracks"):
        warped_video(img, depth, [ball], [pillar], [[[20, 32, 0.5]], [[1, 1, 0.5]]], num_frames=4)
    big = np.zeros((2048, 2048, 3), np.uint8)
    with pytest.raises(ValueError, match="num_frames 128 at 2048x2048"):
        warped_video(big, np.ones((2048, 2048)), [np.ones((2048, 2048), bool)], [], [[[1, 1, 1.0]]],
                     num_frames=128)


def test_the_public_name():
    assert levitor.warped_video is warped_video


def test_the_demo_preview_can_show_the_warped_video(tmp_path, capsys):
    from PIL import Image

    from cli_helpers import one_line_error, run_cli
    from levitor.assets.demo_scene import ASSET_DIR
    from levitor.cli import main
    from levitor.io.media import load_image

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "4", "--format", "gif", "--preview", "both"]) == 0
    frames = sorted((out / "frames").glob("*.png"))
    assert len(frames) == 4
    first, last = (np.asarray(Image.open(p).convert("RGB")) for p in (frames[0], frames[-1]))
    assert first.shape == (512, 2 * 288, 3)  # the masks view, then the warped video
    image = load_image(str(ASSET_DIR / "image.png"))
    assert np.array_equal(first[:, 288:], image)  # frame 0 of the warped video is the still image
    assert not np.array_equal(last[:, 288:], image)
    assert not np.array_equal(first[:, :288], image)  # the masks view is tinted
    assert run_cli(["demo", "--out", str(tmp_path / "x"), "--preview", "nope"]) == 2
    assert "--preview" in one_line_error(capsys)


def test_with_varying_depth_each_pixel_shows_the_source_point_the_projection_sends_there():
    """Colours encode the source column and row; projecting that source point forward (the shared
    formula, with the depth map's own value there) must land on the pixel that shows it."""
    from levitor.planning.motion import project_moved

    img = np.zeros((H, W, 3), np.uint8)
    img[:] = GREEN
    obj = box((H, W), 16, 48, 40, 90)
    rows, cols = np.mgrid[:H, :W]
    img[obj, 0] = cols[obj] * 2  # red: source column (40..89 -> 80..178)
    img[obj, 1] = rows[obj] * 4  # green: source row (16..47 -> 64..188)
    img[obj, 2] = 0
    depth = np.full((H, W), 1.0)
    depth[obj] = 0.3 + 0.2 * (cols[obj] - 40) / 49  # a smooth ramp along x, 0.3 .. 0.5
    dx, dy, dd = 6.0, -3.0, -0.12
    start = (65.0, 32.0, 0.4)
    out = warped_video(img, depth, [obj], [], [[start, (start[0] + dx, start[1] + dy, start[2] + dd)]],
                       num_frames=2)
    frame, mask = out.frames[1].astype(float), out.mask[1]
    shown = mask & (frame[..., 2] == 0)  # object colours (the fill and the background are not blue-free)
    shown[:, :3] = shown[:, -3:] = False
    assert shown.sum() > 1000
    r, c = np.nonzero(shown)
    u, v = frame[r, c, 0] / 2, frame[r, c, 1] / 4
    inner = (u > 41) & (u < 88) & (v > 17) & (v < 46)  # bilinear samples away from the edges
    z = 0.3 + 0.2 * (u[inner] - 40) / 49
    x, y, _, ok = project_moved(u[inner], v[inner], z, dx, dy, dd, W, H)
    assert ok.all() and inner.sum() > 800
    assert np.abs(x - c[inner]).max() < 1.0 and np.abs(y - r[inner]).max() < 1.0


def test_the_warp_runs_on_the_planning_thread_bound_and_restores_the_count(monkeypatch):
    from levitor.planning import threads, warp

    seen = []
    original = warp._sample

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(warp, "_sample", recording)
    img, depth, ball, pillar = _ball_and_pillar()
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        warped_video(img, depth, [ball], [pillar], [[[20, 32, 0.5], [110, 32, 0.4]]], num_frames=3)
        assert seen and set(seen) == {threads.PLANNING_CPU_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
