"""The shared lift / move / project step, against values worked out by hand."""

import numpy as np
import torch

from levitor.planning.motion import motion_deltas, project_moved


def test_a_point_at_rest_stays_where_it_is():
    x, y, z, ok = project_moved(np.array([3.0]), np.array([7.0]), np.array([0.4]), 0.0, 0.0, 0.0, 32, 16)
    assert (x[0], y[0], z[0], bool(ok[0])) == (3.0, 7.0, 0.4, True)


def test_twice_nearer_doubles_the_distance_from_the_centre():
    # centre (16, 8); the point is 6 right and 2 up of it; depth 0.5 -> 0.25 scales by 2
    x, y, z, ok = project_moved(np.array([22.0]), np.array([6.0]), np.array([0.5]), 0.0, 0.0, -0.25, 32, 16)
    assert np.allclose([x[0], y[0], z[0]], [28.0, 4.0, 0.25]) and ok[0]


def test_the_shift_is_applied_before_the_scaling():
    x, y, _, _ = project_moved(torch.tensor([10.0]), torch.tensor([8.0]), torch.tensor([0.2]), 2.0, -4.0,
                               torch.tensor([0.2]), 32, 16)
    # shifted to (12, 4); rho = 0.2 / 0.4 = 0.5 about (16, 8): (14, 6)
    assert torch.allclose(x, torch.tensor([14.0])) and torch.allclose(y, torch.tensor([6.0]))


def test_behind_the_camera_is_not_valid():
    _, _, z, ok = project_moved(np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([0.3, 0.3]), 0, 0,
                                np.array([-0.3, -0.5]), 8, 8)
    assert ok.tolist() == [False, False] and np.allclose(z, [0.0, -0.2])


def test_deltas_are_taken_from_frame_zero():
    traj = np.array([[[5, 6, 0.5], [7, 6, 0.4], [5, 9, 0.5]]], dtype=float)
    assert np.allclose(motion_deltas(traj)[0], [[0, 0, 0], [2, 0, -0.1], [0, 3, 0]])
