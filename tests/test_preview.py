"""The preview video: control points visible on any background, ghost of the start position,
frame number and legend. Checked on pixels."""

import numpy as np

from levitor.planning.preview import OUTLINE, palette, point_radius, render_label_preview


def test_point_radius_scales_with_the_image():
    assert point_radius(512, 288) == 5
    assert point_radius(1024, 576) == 10
    assert point_radius(64, 48) == 3  # never smaller than 3 px


def _dot(background: int, h=96, w=80):
    image = np.full((h, w, 3), background, np.uint8)
    labels = np.zeros((1, h, w), np.int32)
    kp = [np.array([[40, 30, 1, 0]])]
    return render_label_preview(image, labels, kp, image_alpha=1.0, point_size=6)[0]


def test_points_are_filled_dots_with_a_dark_outline_on_light_and_dark_areas():
    colour = palette(2)[1]
    for background in (255, 0, 128):
        frame = _dot(background)
        np.testing.assert_array_equal(frame[40, 30], colour)  # filled centre
        np.testing.assert_array_equal(frame[40, 33], colour)
        for r, c in ((40, 36), (40, 24), (34, 30), (46, 30)):  # the rim, 6 px out: the dark outline
            assert frame[r, c].max() <= max(OUTLINE) + 10, (background, r, c, frame[r, c])
        assert (frame[40, 40] == background).all()  # outside the dot: untouched


def test_dot_area_grows_with_the_radius():
    image = np.full((200, 200, 3), 255, np.uint8)
    labels = np.zeros((1, 200, 200), np.int32)
    kp = [np.array([[100, 100, 1, 0]])]
    colour = palette(2)[1]
    areas = []
    for r in (4, 8):
        f = render_label_preview(image, labels, kp, image_alpha=1.0, point_size=r)[0]
        areas.append(int((f == colour).all(-1).sum() + (f.max(-1) <= max(OUTLINE) + 10).sum()))
    # filled disc of radius r (with its outline): about pi r^2
    assert abs(areas[0] - np.pi * 4.5**2) < 0.35 * np.pi * 4.5**2
    assert 3.2 < areas[1] / areas[0] < 4.8


def scene(h=240, w=200, moved=True):
    image = np.full((h, w, 3), 255, np.uint8)
    labels = np.zeros((3, h, w), np.int32)
    labels[:, 20:50, 20:50] = 2
    labels[0, 100:140, 100:140] = 1
    labels[1:, 100:140, 60:100] = 1 if moved else 0
    if not moved:
        labels[1:, 100:140, 100:140] = 1
    return image, labels


def test_legend_shows_each_object_colour_and_the_ghost():
    image, labels = scene()
    depths = np.array([[0.01, 0.008, 0.006], [0.02, 0.02, 0.02]])
    f = render_label_preview(image, labels, None, image_alpha=1.0, num_objects=2, object_depths=depths)[0]
    colours = palette(3)
    legend = f[-60:, :100]  # bottom-left corner
    font = max(9, round(200 / 26))
    for k in (1, 2):
        # a swatch of the object's colour, about font x font pixels, in the legend corner only
        assert (legend == colours[k]).all(-1).sum() >= (font - 2) ** 2
    assert (f[-60:, 150:] == 255).all()  # the legend stays small: the right side is untouched


def test_frame_number_and_depths_change_only_their_boxes():
    image, labels = scene(moved=False)
    same = np.full((1, 3), 0.01)
    f = render_label_preview(image, labels, None, image_alpha=1.0, num_objects=1, object_depths=same)
    diff = (f[0] != f[1]).any(-1)
    rows, cols = np.nonzero(diff)
    assert diff.any() and rows.max() < 30 and cols.max() < 120  # only the "frame 1/3" header changed
    nearer = np.array([[0.01, 0.005, 0.005]])
    g = render_label_preview(image, labels, None, image_alpha=1.0, num_objects=1, object_depths=nearer)
    rows, _ = np.nonzero((g[0] != g[1]).any(-1))
    assert rows.max() > 240 - 40  # the legend's depth line changed too


def test_ghost_marks_the_start_position():
    image, labels = scene()
    plain = render_label_preview(image, labels, None, image_alpha=0.0)
    ghosted = render_label_preview(image, labels, None, image_alpha=0.0, num_objects=1,
                                   object_depths=np.full((1, 3), 0.01))
    inner = np.zeros(labels.shape[1:], bool)
    inner[105:135, 105:135] = True  # inside the start region, away from its edge
    # frame 1: where the object was, the ghost is lighter than the plain background, its edge in the
    # object's colour; where the object is now, nothing changes
    assert (ghosted[1][inner].astype(int) > plain[1][inner].astype(int)).all()
    np.testing.assert_array_equal(ghosted[1][100, 120], palette(3)[1])
    np.testing.assert_array_equal(ghosted[1][labels[1] == 1], plain[1][labels[1] == 1])
    # frame 0: the object sits at its start, no ghost
    np.testing.assert_array_equal(ghosted[0][labels[0] == 1], plain[0][labels[0] == 1])
