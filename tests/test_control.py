import numpy as np
import pytest

from levitor.planning.control import _resized_template, draw_control_maps, gaussian_template

# Hand values of an interior 20×20 patch (reference semantics §2.3).
ROW9 = [15, 25, 42, 66, 96, 132, 170, 206, 234, 250, 251, 236, 209, 174, 136, 99, 69, 44, 27, 15]


def test_template_shape_peak_and_disc():
    t = gaussian_template()
    assert t.shape == (200, 200) and t.dtype == np.uint8
    assert t[100, 100] == 255 and t.max() == 255
    assert int((t > 0).sum()) == 31_415  # the radius-100 disc clipped to the 200×200 image
    assert t[100, 0] > 0 and t[0, 100] > 0 and t[0, 0] == 0
    assert 9 <= t[100, 1] <= 13  # disc edge ≈ 11


def test_interior_patch_matches_hand_values():
    p = _resized_template(20, 20)
    assert int(p.sum()) == 24_426
    assert int(p.max()) == 251
    assert int((p > 0).sum()) == 320
    assert p[9].tolist() == ROW9
    assert np.flatnonzero(p[0]).tolist() == [7, 8, 9, 10, 11, 12]
    assert p[0, 7:13].tolist() == [12, 14, 15, 15, 14, 12]


def test_template_and_resize_are_bit_identical_to_opencv():
    cv2 = pytest.importorskip("cv2")
    size = 200
    circle = cv2.circle(np.zeros((size, size), np.float32), (100, 100), 100, 1, -1)
    i, j = np.mgrid[0:size, 0:size].astype(np.float64)
    g = (1 / 2 / np.pi / 1600 * np.exp(-1 / 2 * ((i - 100) ** 2 / 1600 + (j - 100) ** 2 / 1600))).astype(np.float32)
    g = g * circle
    g = (g / g.max()).astype(np.float32)
    ref = (g / g.max() * 255).astype(np.uint8)
    assert np.array_equal(gaussian_template(), ref)
    for w in range(1, 43):
        for h in range(1, 43):
            assert np.array_equal(_resized_template(w, h), cv2.resize(ref, (w, h))), (w, h)
    for w, h in [(100, 100), (60, 100), (57, 83)]:
        assert np.array_equal(_resized_template(w, h), cv2.resize(ref, (w, h))), (w, h)


def test_interior_point_writes_patch_id_and_depth():
    out = draw_control_maps([np.array([[30, 40, 7, 123]])], 64, 80)
    assert out.shape == (1, 3, 64, 80) and out.dtype == np.float32
    patch = _resized_template(20, 20)
    np.testing.assert_array_equal(out[0, 0, 20:40, 30:50], patch)
    assert out[0, 0].sum() == patch.sum()  # nothing outside the box
    np.testing.assert_array_equal(out[0, 1, 20:40, 30:50], (patch != 0) * 7.0)
    np.testing.assert_array_equal(out[0, 2, 20:40, 30:50], (patch != 0) * 123.0)
    # The template's centre lands on the keypoint: the box [p - 10, p + 10) samples the 200-px
    # template at 10 i + 4.5, nearest to its centre 100 at i = 10 (4.5 px away). So the keypoint
    # holds the maximum, and the pixels one step down, right (14.5 px) and up-left (5.5 px) are lower.
    heat = out[0, 0]
    assert heat[30, 40] == heat.max()
    assert heat[31, 40] < heat.max() and heat[30, 41] < heat.max() and heat[29, 39] < heat.max()


def test_box_clamps_at_one_and_size_minus_one():
    h, w = 50, 60
    out = draw_control_maps([np.array([[0, 0, 1, 5]]), np.array([[h - 1, w - 1, 2, 5]])], h, w)
    # At the corner (0, 0) the box is [1, 10) × [1, 10): the template is squeezed, not cropped.
    np.testing.assert_array_equal(out[0, 0, 1:10, 1:10], _resized_template(9, 9))
    assert out[0, 0, 0, :].sum() == 0 and out[0, 0, :, 0].sum() == 0
    assert out[0, 0].sum() == _resized_template(9, 9).sum()
    # At (H-1, W-1) the box is [H-11, H-1) × [W-11, W-1).
    np.testing.assert_array_equal(out[1, 0, h - 11:h - 1, w - 11:w - 1], _resized_template(10, 10))
    assert out[1, 0, h - 1, :].sum() == 0 and out[1, 0, :, w - 1].sum() == 0


def test_later_points_overwrite_including_zero_corners():
    a = np.array([[30, 30, 1, 10]])
    b = np.array([[30, 30, 1, 10], [39, 39, 2, 20]])
    only_a = draw_control_maps([a], 80, 80)[0]
    both = draw_control_maps([b], 80, 80)[0]
    # Pixel (29, 29) is inside both boxes: A's patch is non-zero there, B's patch has a zero corner.
    pb = _resized_template(20, 20)
    assert only_a[0, 29, 29] > 0 and pb[0, 0] == 0
    assert both[0, 29, 29] == 0 and both[1, 29, 29] == 0 and both[2, 29, 29] == 0
    # Where B is non-zero it wins, with its own id and depth.
    assert both[1, 39, 39] == 2 and both[2, 39, 39] == 20


def test_outside_points_and_degenerate_boxes_are_skipped():
    out = draw_control_maps([np.array([[-1, 5, 1, 1], [5, 70, 1, 1], [64, 5, 1, 1]])], 64, 64)
    assert out.sum() == 0
    tiny = draw_control_maps([np.array([[0, 0, 1, 1]])], 2, 2)  # box [1, 1): empty
    assert tiny.sum() == 0
    assert draw_control_maps([np.array([[5, 5, 1, 1]])], 20, 20, radius=0).sum() == 0


def test_channel_switches_and_uint8_behaviour():
    kp = [np.array([[20, 20, 300, 400]])]
    full = draw_control_maps(kp, 40, 40)
    assert full[0, 1].max() == 300  # labels keep their value
    assert full[0, 2].max() == 255  # depth codes clip to the 8-bit range
    wrapped = draw_control_maps(kp, 40, 40, reference_uint8_wrap=True)
    assert wrapped[0, 1].max() == 300 % 256 and wrapped[0, 2].max() == 400 % 256
    off = draw_control_maps(kp, 40, 40, use_id=False, use_depth=False)
    assert off[0, 1].max() == 0 and off[0, 2].max() == 0 and off[0, 0].max() == 251


def test_empty_frames_and_bad_keypoints():
    out = draw_control_maps([np.zeros((0, 4)), np.array([[10, 10, 1, 1]])], 30, 30)
    assert out[0].sum() == 0 and out[1].sum() > 0
    with pytest.raises(ValueError, match=r"keypoints\[0\]"):
        draw_control_maps([np.array([[1, 2, 3]])], 30, 30)
    with pytest.raises(ValueError, match="height and width"):
        draw_control_maps([], 0, 30)


def _draw_point_by_point(keypoints, height, width, radius, *, use_id=True, use_depth=True, wrap=False):
    """The drawing written out plainly: one point after another, each patch assigned over its box."""
    out = np.zeros((len(keypoints), 3, height, width), dtype=np.float32)
    for t, kps in enumerate(keypoints):
        for row, col, label, code in np.asarray(kps).reshape(-1, 4).tolist():
            if not (0 <= row < height and 0 <= col < width):
                continue
            x1, x2 = int(max(col - radius, 1)), int(min(col + radius, width - 1))
            y1, y2 = int(max(row - radius, 1)), int(min(row + radius, height - 1))
            if x2 <= x1 or y2 <= y1:
                continue
            if wrap:
                label, code = int(label) % 256, int(code) % 256
            else:
                code = min(int(code), 255)
            patch = _resized_template(x2 - x1, y2 - y1)
            for i in range(y2 - y1):
                for j in range(x2 - x1):
                    v = int(patch[i, j])
                    out[t, 0, y1 + i, x1 + j] = v
                    out[t, 1, y1 + i, x1 + j] = float(label) if (use_id and v) else 0.0
                    out[t, 2, y1 + i, x1 + j] = float(code) if (use_depth and v) else 0.0
    return out


@pytest.mark.parametrize("seed", range(6))
def test_drawing_matches_point_by_point_on_random_keypoints(seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(12, 60)), int(rng.integers(12, 60))
    radius = int(rng.integers(1, 12))
    keypoints = []
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(0, 30))
        # Crowded (overlapping patches), some at and past the edges, labels and codes past 255.
        rows = rng.integers(-3, height + 3, n)
        cols = rng.integers(-3, width + 3, n)
        keypoints.append(np.stack([rows, cols, rng.integers(0, 600, n), rng.integers(-5, 600, n)], axis=1))
    for wrap in (False, True):
        for use_id, use_depth in ((True, True), (False, True), (True, False)):
            got = draw_control_maps(keypoints, height, width, radius, use_id=use_id, use_depth=use_depth,
                                    reference_uint8_wrap=wrap)
            want = _draw_point_by_point(keypoints, height, width, radius, use_id=use_id, use_depth=use_depth,
                                        wrap=wrap)
            np.testing.assert_array_equal(got, want)


def test_drawing_float_keypoints_matches_point_by_point():
    rng = np.random.default_rng(7)
    kps = np.stack([rng.uniform(-2, 42, 40), rng.uniform(-2, 52, 40), rng.uniform(0, 400, 40),
                    rng.uniform(0, 400, 40)], axis=1)
    for wrap in (False, True):
        np.testing.assert_array_equal(draw_control_maps([kps, kps[::-1]], 40, 50, 6, reference_uint8_wrap=wrap),
                                      _draw_point_by_point([kps, kps[::-1]], 40, 50, 6, wrap=wrap))


def test_non_finite_keypoints_are_refused():
    with pytest.raises(ValueError, match=r"keypoints\[1\].*NaN"):
        draw_control_maps([np.array([[5.0, 5, 1, 1]]), np.array([[np.nan, 5, 1, 1]])], 30, 30)
