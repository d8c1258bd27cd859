"""LeviTorDepthAnything with a tiny random Depth-Anything-V2 in the fake models/depthanything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakes.comfy_host import InterruptProcessingException, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from fakes.tiny_depth import tiny_original_state_dict


@pytest.fixture
def depth_file(fake_host):
    folder = fake_host.models_dir / "depthanything"
    folder.mkdir(parents=True)
    torch.save(tiny_original_state_dict(), folder / "depth_anything_v2_vits.pth")
    return "depth_anything_v2_vits.pth"


def test_depth_models_are_listed(pack, depth_file, fake_host):
    hf = fake_host.models_dir / "depthanything" / "Depth-Anything-V2-Small-hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    spec = node_map(pack)["LeviTorDepthAnything"].INPUT_TYPES()["required"]
    assert spec["depth_model"][1]["options"] == ["Depth-Anything-V2-Small-hf", "depth_anything_v2_vits.pth"]
    assert spec["input_size"][1]["default"] == 512 and spec["swap_red_blue"][1]["default"] is True


def test_depth_node_returns_normalised_disparity_per_image(pack, depth_file, fake_host):
    node = node_map(pack)["LeviTorDepthAnything"]
    images = torch.rand(2, 30, 44, 3, generator=torch.Generator().manual_seed(0))
    (depth,) = run_node(node, images, depth_file, 28, True)
    assert depth.shape == (2, 30, 44, 3) and depth.dtype == torch.float32
    for d in depth:
        assert float(d.min()) == 0.0 and abs(float(d.max()) - 1.0) < 1e-6
        assert torch.equal(d[..., 0], d[..., 2])
    est = pack.nodes.depth_node.load_estimator(depth_file)
    raw = est(pack.nodes.convert.image_to_numpy(images, index=1), input_size=28, swap_rb=True)
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    assert np.allclose(depth[1, ..., 0].numpy(), expected, atol=1e-6)
    assert ("new", 3) in fake_host.progress
    assert pack.nodes.depth_node.load_estimator(depth_file) is est


def test_depth_output_feeds_the_editor_convention(pack, depth_file):
    from levitor.planning.scene import disparity_to_depth

    node = node_map(pack)["LeviTorDepthAnything"]
    images = torch.rand(1, 30, 44, 3, generator=torch.Generator().manual_seed(1))
    (depth,) = run_node(node, images, depth_file, 28, False)
    ref = pack.nodes.convert.depth_image_to_reference(depth)
    assert ref.shape == (30, 44) and ref.min() > 0 and ref.max() <= 1.0
    assert np.array_equal(ref, disparity_to_depth(depth[0, ..., 0].numpy()))


def test_depth_node_errors_and_cancel(pack, depth_file, fake_host):
    node = node_map(pack)["LeviTorDepthAnything"]
    with pytest.raises(ValueError, match="depth_model: no Depth-Anything-V2 model found"):
        run_node(node, torch.rand(1, 8, 8, 3), pack.nodes.depth_node.NO_DEPTH, 28, True)
    with pytest.raises(ValueError, match="non-empty IMAGE"):
        run_node(node, torch.rand(0, 8, 8, 3), depth_file, 28, True)
    fake_host.interrupt_after_updates = fake_host.updates + 2
    with pytest.raises(InterruptProcessingException):
        run_node(node, torch.rand(3, 16, 16, 3), depth_file, 28, True)
