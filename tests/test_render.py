import numpy as np
import pytest
import torch

from conftest import ball_and_obstacle, box, disc
from levitor.planning.render import fill_label, lift_scene, render_moved_masks, splat_coverage, splat_radius_cap
from levitor.planning.scene import make_scene
from levitor.planning.tracks import resample_tracks


def brute_force_cover(u, v, z0, delta, height, width, label, base_radius=0.011, k=10, unit=144.0, radius=None):
    """Per pixel: every point within the radius, the k nearest by (z, index), alpha compositing."""
    dx, dy, dd = delta
    z = z0 + dd
    rho = z0 / np.where(z > 0, z, 1)
    x = width / 2 + (u + dx - width / 2) * rho
    y = height / 2 + (v + dy - height / 2) * rho
    r = max(base_radius - dd, base_radius) * unit if radius is None else radius
    order = np.lexsort((np.arange(len(z)), z))  # by z, then index
    out = np.zeros((height, width), dtype=bool)
    for row in range(height):
        for col in range(width):
            d2 = (x[order] - (col + 0.5)) ** 2 + (y[order] - (row + 0.5)) ** 2
            hit = (d2 < r * r) & (z[order] > 0)
            alphas = 1 - d2[hit][:k] / (r * r)
            transmit = np.prod(1 - alphas)
            out[row, col] = label * (1 - transmit) > 0.5
    return out


@pytest.mark.parametrize("label", [1.0, 3.0, 25.0])
@pytest.mark.parametrize("delta", [(0, 0, 0), (2.3, -1.7, 0), (0.4, 0.6, -0.004), (-3, 2, 0.01), (1, 1, -0.02),
                                   (0.5, 0.5, 0.03)])
def test_vectorised_splatting_equals_brute_force(delta, label):
    rng = np.random.default_rng(1)
    h, w = 18, 22
    mask = disc((h, w), 9, 10, 5) | box((h, w), 3, 6, 2, 8)
    rows, cols = np.nonzero(mask)
    z0 = (1.0 / rng.integers(30, 40, size=len(rows))).astype(np.float32).astype(np.float64)
    expected = brute_force_cover(cols.astype(float), rows.astype(float), z0, delta, h, w, label)
    rank = np.empty(len(z0), dtype=np.int64)
    rank[np.argsort(z0, kind="stable")] = np.arange(len(z0))
    z = torch.tensor(z0)[None] + delta[2]
    rho = torch.tensor(z0)[None] / z
    x = w / 2 + (torch.tensor(cols, dtype=torch.float64)[None] + delta[0] - w / 2) * rho
    y = h / 2 + (torch.tensor(rows, dtype=torch.float64)[None] + delta[1] - h / 2) * rho
    radius = torch.tensor([max(0.011 - delta[2], 0.011) * 144.0], dtype=torch.float64)
    got = splat_coverage(x, y, torch.tensor(rank), z > 0, radius, h, w, label)[0].numpy()
    np.testing.assert_array_equal(got, expected)


def _scene(mask, depth=None, static=()):
    h, w = mask.shape
    depth = np.full((h, w), 0.5) if depth is None else depth
    return make_scene(np.zeros((h, w, 3), np.uint8), depth, [mask], list(static))


def test_at_rest_footprint_is_the_mask_grown_up_and_left():
    h, w = 40, 50
    mask = disc((h, w), 20, 25, 8) | box((h, w), 5, 9, 30, 45)
    scene = _scene(mask, np.full((h, w), 0.2))
    traj = resample_tracks([[(25, 20, 0.2)]], 3)
    moved = render_moved_masks(scene, traj)
    grown = mask.copy()
    grown[:-1, :] |= mask[1:, :]
    grown[:, :-1] |= mask[:, 1:]
    grown[:-1, :-1] |= mask[1:, 1:]
    for t in range(3):
        np.testing.assert_array_equal(moved.labels[t] == 1, grown)
    np.testing.assert_array_equal(moved.depths[0][grown], np.float32(0.2))


def test_occlusion_behind_and_in_front_of_a_static_object():
    h, w = 40, 60
    ball, wall, depth = ball_and_obstacle((h, w), (20, 12, 5), (5, 35, 28, 36), 1 / 100)
    scene = make_scene(np.zeros((h, w, 3), np.uint8), depth, [ball], [wall])
    for d_end, hidden in [(1 / 60, True), (1 / 120, False)]:  # farther / nearer than the wall
        traj = resample_tracks([[(12, 20, 1 / 100), (32, 20, d_end)]], 9)
        moved = render_moved_masks(scene, traj)
        last = moved.labels[-1]
        wall_label = scene.labels[20, 32]
        if hidden:
            assert not (last[wall] == 1).any() and np.all(last[wall] == wall_label)
            assert (last == 1).sum() < (moved.labels[0] == 1).sum()  # only the part beside the wall shows
        else:
            assert (last[wall] == 1).sum() > 50
            assert np.all(moved.depths[-1][last == 1] == np.float32(1 / 120))


def test_object_leaving_the_frame_vanishes_without_error():
    h, w = 30, 30
    mask = disc((h, w), 15, 15, 4)
    moved = render_moved_masks(_scene(mask), resample_tracks([[(15, 15, 0.5), (80, 15, 0.5)]], 6))
    assert (moved.labels[-1] == 1).sum() == 0
    assert moved.area_min[0] == 0 and moved.area_max[0] > 0


def test_moving_nearer_grows_and_farther_shrinks():
    h, w = 60, 60
    mask = disc((h, w), 30, 30, 6)
    scene = _scene(mask, np.full((h, w), 0.1))
    near = render_moved_masks(scene, resample_tracks([[(30, 30, 0.1), (30, 30, 0.05)]], 4))
    far = render_moved_masks(scene, resample_tracks([[(30, 30, 0.1), (30, 30, 0.2)]], 4))
    a0 = (near.labels[0] == 1).sum()
    assert (near.labels[-1] == 1).sum() > 2.5 * a0  # scale 2 about the centre: ~4x the area
    assert (far.labels[-1] == 1).sum() < 0.45 * a0
    # Without holes: the nearer object's footprint is a filled disc.
    filled = near.labels[-1] == 1
    assert filled[30, 30] and filled[30, 38] and filled[22, 30]


def test_vacated_pixels_take_the_fill_label_and_keep_far_depth():
    h, w = 40, 40
    ground = box((h, w), 0, 40, 0, 40)
    ball = disc((h, w), 25, 10, 4)
    ground &= ~ball
    depth = np.full((h, w), 1 / 50)
    scene = make_scene(np.zeros((h, w, 3), np.uint8), depth, [ball], [ground])
    moved = render_moved_masks(scene, resample_tracks([[(10, 25, 1 / 60), (30, 25, 1 / 60)]], 5))
    g = scene.labels[0, 0]
    last = moved.labels[-1]
    assert np.all(last[ball & (last != 1)] == g)  # where the ball was
    assert np.all(moved.depths[-1][ball & (last != 1)] == 1.0)
    assert not (last == 0).any()


def test_fill_window_and_top_row_object():
    initial = np.zeros((10, 10), np.int32)
    initial[:, 0] = [9, 4, 4, 3, 3, 5, 0, 0, 0, 0]
    initial[:, 1] = 7
    # The 5 pixels above row 5 in column max(col - 5, 0) = 0: [9, 4, 4, 3, 3]: a tie, the smaller wins.
    assert fill_label(initial, 5, 2) == 3
    assert fill_label(initial, 6, 6) == 7  # column 1: [7, 7, 7, 7, 7]
    assert fill_label(initial, 2, 0) == 4  # rows 0..1 only: [9, 4] -> tie -> 4
    assert fill_label(initial, 0, 5) == 0  # nothing above the top row: no fill (no crash)
    # An object touching the top row renders without error.
    h, w = 20, 20
    mask = box((h, w), 0, 5, 5, 10)
    moved = render_moved_masks(_scene(mask), resample_tracks([[(7, 2, 0.5), (7, 10, 0.5)]], 4))
    assert (moved.labels[-1] == 1).sum() > 0


def test_ndc_splat_units_follow_the_image_size():
    h, w = 40, 40  # half the short side is 20 px: a 0.22 px radius reaches no pixel centre
    mask = disc((h, w), 20, 20, 6)
    traj = resample_tracks([[(20, 20, 0.5)]], 2)
    assert (render_moved_masks(_scene(mask), traj, splat_units="ndc").labels[0] == 1).sum() == 0
    assert (render_moved_masks(_scene(mask), traj).labels[0] == 1).sum() > mask.sum()
    with pytest.raises(ValueError, match="splat_units"):
        render_moved_masks(_scene(mask), traj, splat_units="inches")


def test_zero_motion_reproduces_the_rest_frame_and_counts_must_match(small_scene):
    s = small_scene
    scene = make_scene(s["image"], s["depth"], s["object_masks"], s["static_masks"])
    moved = render_moved_masks(scene, resample_tracks([[(12, 40, 1 / 150)]], 5))
    assert all(np.array_equal(moved.labels[0], f) for f in moved.labels)
    with pytest.raises(ValueError, match="1 object masks but 2 tracks"):
        render_moved_masks(scene, resample_tracks([[(1, 1, 0.5)], [(1, 1, 0.5)]], 3))


@pytest.mark.skipif(not torch.cuda.is_available() and not torch.backends.mps.is_available(), reason="no GPU here")
def test_gpu_matches_cpu(small_scene):  # pragma: no cover - runs where a GPU is present
    s = small_scene
    scene = make_scene(s["image"], s["depth"], s["object_masks"], s["static_masks"])
    traj = resample_tracks([[(12, 40, 1 / 150), (30, 20, 1 / 200)]], 6)
    dev = "cuda" if torch.cuda.is_available() else "mps"
    a, b = render_moved_masks(scene, traj), render_moved_masks(scene, traj, device=dev)
    assert (a.labels != b.labels).mean() < 1e-3


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.parametrize("radius", [2.6, 4.3, 7.9])
def test_large_and_crowded_footprints_equal_brute_force(radius, k):
    """Wide discs where every pixel has far more than k candidates: the kept set decides."""
    rng = np.random.default_rng(int(radius * 10) + k)
    h, w = 20, 24
    mask = disc((h, w), 10, 12, 6)
    rows, cols = np.nonzero(mask)
    z0 = (1.0 / rng.integers(30, 34, size=len(rows))).astype(np.float32).astype(np.float64)
    rank = np.empty(len(z0), dtype=np.int64)
    rank[np.argsort(z0, kind="stable")] = np.arange(len(z0))
    dd = 0.011 - radius / 144.0  # the radius max(0.011 - dd, 0.011) * 144
    for label in (1.0, 4.0):
        expected = brute_force_cover(cols.astype(float), rows.astype(float), z0, (0.3, -0.2, dd), h, w, label, k=k)
        z = torch.tensor(z0)[None] + dd
        rho = torch.tensor(z0)[None] / z
        x = w / 2 + (torch.tensor(cols, dtype=torch.float64)[None] + 0.3 - w / 2) * rho
        y = h / 2 + (torch.tensor(rows, dtype=torch.float64)[None] - 0.2 - h / 2) * rho
        r = torch.tensor([max(0.011 - dd, 0.011) * 144.0], dtype=torch.float64)
        got = splat_coverage(x, y, torch.tensor(rank), z > 0, r, h, w, label, points_per_pixel=k)[0].numpy()
        np.testing.assert_array_equal(got, expected)


def test_radius_cap_is_what_the_image_can_show():
    # The discs of all object points cover at most points_per_pixel x the image.
    assert splat_radius_cap(512 * 288, 512, 288, 10) == pytest.approx(np.sqrt(10 / np.pi))
    assert splat_radius_cap(512 * 288, 512, 288, 10) > 0.011 * 144  # a full-image object at rest: uncapped
    assert splat_radius_cap(512 * 288 // 10, 512, 288, 10) > 5.6  # a tenth of the image
    # A far object moved near: without the cap a 1.0 -> 0.5 move is a 73 px disc per point.
    h, w = 60, 80
    mask = box((h, w), 10, 50, 10, 70)
    scene = _scene(mask, np.full((h, w), 1.0))
    traj = resample_tracks([[(40, 30, 1.0), (40, 30, 0.5)]], 2)
    moved = render_moved_masks(scene, traj)
    cap = splat_radius_cap(int(mask.sum()), h, w, 10)
    lifted = lift_scene(scene)
    obj = lifted.objects[0]
    rho = obj.z / (obj.z - 0.5)
    x = (w / 2 + (obj.u - w / 2) * rho)[None]
    y = (h / 2 + (obj.v - h / 2) * rho)[None]
    capped = splat_coverage(x, y, obj.rank, torch.ones_like(x, dtype=torch.bool),
                            torch.tensor([cap], dtype=torch.float64), h, w, 1.0)[0].numpy()
    np.testing.assert_array_equal(moved.labels[1] == 1, capped)


def test_far_plane_tie_draws_the_object_and_the_strict_test_stays_reachable():
    h, w = 30, 30
    mask = disc((h, w), 15, 15, 4)
    scene = _scene(mask, np.full((h, w), 1.0))  # a constant (far) depth map
    traj = resample_tracks([[(15, 15, 1.0), (20, 15, 1.0)]], 3)
    drawn = render_moved_masks(scene, traj)
    assert (drawn.labels[0] == 1).sum() > mask.sum() and (drawn.labels[-1] == 1).sum() > mask.sum()
    strict = render_moved_masks(scene, traj, strict_depth_test=True)
    assert (strict.labels == 1).sum() == 0  # the reference: the object vanishes
    # Only the far plane ties: an object at 0.5 behind a wall at 0.5 stays hidden.
    depth = np.full((h, w), 1.0)
    wall = box((h, w), 0, 30, 22, 26)
    depth[wall] = 0.5
    scene = make_scene(np.zeros((h, w, 3), np.uint8), depth, [mask], [wall])
    moved = render_moved_masks(scene, resample_tracks([[(15, 15, 0.5), (24, 15, 0.5)]], 2))
    assert (moved.labels[-1][wall] == 1).sum() == 0


def _project(cols, rows, z0, delta, h, w):
    z = torch.tensor(z0)[None] + delta[2]
    rho = torch.tensor(z0)[None] / torch.where(z > 0, z, torch.ones_like(z))
    x = w / 2 + (torch.tensor(cols, dtype=torch.float64)[None] + delta[0] - w / 2) * rho
    y = h / 2 + (torch.tensor(rows, dtype=torch.float64)[None] + delta[1] - h / 2) * rho
    return x, y, z > 0


@pytest.mark.parametrize("step_cells", [40, 700, None])
@pytest.mark.parametrize("k", [1, 4, 10])
def test_streamed_steps_keep_the_k_nearest_across_steps(monkeypatch, step_cells, k):
    """Wide discs over scrambled depths, several frames of different radii in one call, the points
    streamed in steps far smaller than a pixel's candidates: each pixel keeps its k nearest."""
    from levitor.planning import render

    if step_cells is not None:
        monkeypatch.setattr(render, "_STEP_CELLS", step_cells)
    rng = np.random.default_rng(100 + k)
    h, w = 21, 26
    mask = disc((h, w), 10, 13, 6) | box((h, w), 2, 5, 3, 20)
    rows, cols = np.nonzero(mask)
    z0 = (1.0 / rng.integers(20, 60, size=len(rows))).astype(np.float32).astype(np.float64)
    rank = np.empty(len(z0), dtype=np.int64)
    rank[np.argsort(z0, kind="stable")] = np.arange(len(z0))
    deltas = [(0.3, -0.2, 0.0), (1.7, 0.4, -0.006), (-2.2, 1.1, 0.004)]
    radii = [1.584, 9.3, 14.6]
    xy = [_project(cols, rows, z0, d, h, w) for d in deltas]
    x, y, valid = (torch.cat([t[i] for t in xy]) for i in range(3))
    for label in (1.0, 3.0):
        got = splat_coverage(x, y, torch.tensor(rank), valid, torch.tensor(radii, dtype=torch.float64), h, w, label,
                             points_per_pixel=k).numpy()
        for f, (d, r) in enumerate(zip(deltas, radii)):
            expected = brute_force_cover(cols.astype(float), rows.astype(float), z0, d, h, w, label, k=k, radius=r)
            np.testing.assert_array_equal(got[f], expected, err_msg=f"frame {f}, label {label}")


def _brute_force_fill(initial, row, col):
    window = initial[max(row - 5, 0):row, max(col - 5, 0)]
    if window.size == 0:
        return 0
    values, counts = np.unique(window, return_counts=True)
    return int(values[counts == counts.max()].min())


def brute_force_render(scene, traj, k=10, base_radius=0.011, unit=144.0):
    """The render written out pixel by pixel: per frame, objects in selection order drawn where
    their covered pixels are farther (or both on the far plane), the capped splat radius, the
    fill label on uncovered free pixels."""
    labels0, n = scene.labels, scene.num_objects
    depth0 = np.asarray(scene.depth, dtype=np.float64)
    h, w = labels0.shape
    free = labels0 <= n
    initial = np.where(free, 0, labels0)
    n_points = int((free & (labels0 > 0)).sum())
    cap = np.sqrt(k * h * w / (np.pi * n_points))
    deltas = traj - traj[:, :1]
    fills = []
    for j in range(n):
        rows, cols = np.nonzero(labels0 == j + 1)
        fills.append(_brute_force_fill(initial, rows[0], cols[0]))
    fill = next((f for f in fills if f != 0), 0)
    labels = np.zeros((traj.shape[1], h, w), np.int64)
    for f in range(traj.shape[1]):
        M, D = initial.copy(), np.where(free, 1.0, depth0)
        for j in range(n):
            rows, cols = np.nonzero(labels0 == j + 1)
            z0 = depth0[rows, cols].astype(np.float32).astype(np.float64)
            dx, dy, dd = deltas[j, f]
            r = min(max(base_radius - dd, base_radius) * unit, cap)
            cov = brute_force_cover(cols.astype(float), rows.astype(float), z0, (dx, dy, dd), h, w, float(j + 1),
                                    k=k, radius=r)
            dj = traj[j, f, 2]
            drawn = cov & ((D > dj) | ((D >= 1.0) & (dj >= 1.0)))
            M[drawn], D[drawn] = j + 1, dj
        M[(M == 0) & free] = fill
        labels[f] = M
    return labels


@pytest.mark.parametrize("k", [2, 10])
def test_occluding_objects_moved_near_equal_the_written_out_render(k):
    """Three objects and a wall, far objects moved much nearer (capped, crowded discs) across each
    other and the wall: the label maps equal the render written out pixel by pixel."""
    h, w = 30, 36
    rng = np.random.default_rng(k)
    a = disc((h, w), 9, 9, 4)
    b = box((h, w), 18, 24, 20, 30)
    c = box((h, w), 4, 7, 22, 33)
    wall = box((h, w), 0, 30, 16, 18)
    depth = np.full((h, w), 1.0)
    depth[wall] = 0.3
    depth[a] = 1.0
    depth[b] = 1 / rng.integers(2, 5, size=int(b.sum()))  # scrambled depth order inside b
    depth[c] = 0.6
    scene = make_scene(np.zeros((h, w, 3), np.uint8), depth, [a, b, c], [wall])
    tracks = [[(9, 9, 1.0), (26, 20, 0.35)], [(25, 21, 0.3), (8, 12, 0.1)], [(27, 5, 0.6), (20, 22, 0.2)]]
    traj = resample_tracks(tracks, 5)
    got = render_moved_masks(scene, traj, points_per_pixel=k).labels
    np.testing.assert_array_equal(got, brute_force_render(scene, traj, k=k))


def test_the_splatter_runs_on_one_cpu_thread_and_restores_the_count(monkeypatch):
    from levitor.planning import render

    seen = []
    original = render._splat_boxes

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(render, "_splat_boxes", recording)
    h, w = 20, 20
    scene = _scene(disc((h, w), 10, 10, 4))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        render_moved_masks(scene, resample_tracks([[(10, 10, 0.5), (12, 10, 0.4)]], 3))
        assert seen and set(seen) == {render.SPLAT_CPU_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
