"""Tiny random models under the file names the example workflows use."""

from __future__ import annotations

import shutil
from pathlib import Path


def write_workflow_models(root: Path) -> Path:
    """Fill ``root`` with ``diffusers/``, ``levitor/``, ``sams/`` and ``depthanything/`` model folders.

    SVD-xt and the ControlNet come from ``levitor.tiny_models`` (the ControlNet as a single
    ``.safetensors`` file with its ``config.json`` beside it), SAM and Depth-Anything-V2 are tiny
    random models in their original single-file layouts.
    """
    import torch

    from levitor.tiny_models import save_tiny_models

    from .tiny_depth import tiny_original_state_dict
    from .tiny_sam import save_tiny_sam

    root = Path(root)
    paths = save_tiny_models(root / "_tiny")
    (root / "diffusers").mkdir(parents=True, exist_ok=True)
    shutil.move(str(paths["svd"]), root / "diffusers" / "stable-video-diffusion-img2vid-xt")
    (root / "levitor").mkdir(exist_ok=True)
    shutil.copy(paths["controlnet"] / "diffusion_pytorch_model.safetensors",
                root / "levitor" / "levitor_controlnet.safetensors")
    shutil.copy(paths["controlnet"] / "config.json", root / "levitor" / "config.json")  # the tiny sizes
    shutil.rmtree(root / "_tiny")
    save_tiny_sam(root / "sams" / "sam_vit_h_4b8939.pth")
    (root / "depthanything").mkdir(exist_ok=True)
    torch.save(tiny_original_state_dict(), root / "depthanything" / "depth_anything_v2_vitl.pth")
    return root


#: Small settings so a workflow runs quickly on a CPU with the tiny models: 144x256 frames (the
#: splat radius needs more than ~130 px on the short side), 4 frames, 1 step, a coarse mask grid.
FAST_SETTINGS = {
    "ImageScale": {"width": 144, "height": 256},
    "LeviTorRenderMovedMasks": {"num_frames": 4},
    "LeviTorSampler": {"steps": 1},
    "LeviTorSceneSegments": {"points_per_side": 8},
}


def fast_variant(api: dict) -> dict:
    """A copy of an API workflow with :data:`FAST_SETTINGS` applied."""
    import copy

    out = copy.deepcopy(api)
    for node in out.values():
        node["inputs"].update(FAST_SETTINGS.get(node["class_type"], {}))
    return out
