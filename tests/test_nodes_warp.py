"""The warped-video node against the fake host: the library's frames and mask as IMAGE and MASK."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakes.comfy_host import InterruptProcessingException, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from levitor.planning.warp import warp_render
from test_nodes_planning import _plan_nodes, scene  # noqa: F401  (fixture)


def test_the_node_outputs_the_warped_frames_and_their_mask(pack, fake_host, scene):
    slide = {"tracks": [[[36, 120, 1 / 255], [86, 120, 1 / 255]]]}  # the ball, 50 px right
    _, moved, _ = _plan_nodes(pack, scene, tracks=slide)
    frames, mask = run_node(node_map(pack)["LeviTorWarpedVideo"], moved).result
    assert frames.shape == (6, 192, 144, 3) and frames.dtype == torch.float32
    assert mask.shape == (6, 192, 144) and mask.dtype == torch.float32
    expected = warp_render(moved)
    assert torch.equal(frames, torch.from_numpy(expected.frames.astype(np.float32) / 255.0))
    assert torch.equal(mask, torch.from_numpy(expected.mask.astype(np.float32)))
    assert torch.equal(frames[0], torch.from_numpy(scene["image"].astype(np.float32) / 255.0))
    assert float(mask[0].max()) == 0.0 and float(mask[-1].sum()) > 100  # still at first, moved at the end
    assert ("new", 6) in fake_host.progress


def test_the_node_cancels_and_refuses_other_sockets(pack, fake_host, scene):
    _, moved, _ = _plan_nodes(pack, scene, tracks={"tracks": [[[36, 120, 1 / 255], [86, 120, 1 / 255]]]})
    fake_host.interrupt_after_updates = 2
    with pytest.raises(InterruptProcessingException):
        run_node(node_map(pack)["LeviTorWarpedVideo"], moved)
    with pytest.raises(ValueError, match="LeviTorRenderMovedMasks"):
        run_node(node_map(pack)["LeviTorWarpedVideo"], {"labels": []})
