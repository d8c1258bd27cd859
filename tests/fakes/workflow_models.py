"""Tiny random models under the file names the example workflows use."""

from __future__ import annotations

import shutil
from pathlib import Path


def write_workflow_models(root: Path) -> Path:
    """Fill ``root`` with the model folders the example workflows name, under their file names.

    The shipped workflows use single safetensors files in their release layouts, as the
    missing-models dialog downloads them (:func:`fakes.tiny_svd_file.write_native_workflow_models`);
    the wrapper workflows read the same ControlNet file from ``levitor/``. Workflows saved with
    earlier versions of the pack name the diffusers SVD folder and the original ``.pth`` files:
    those are written too.
    """
    import torch

    from levitor.generation.loading import load_controlnet
    from levitor.generation.tiny import save_tiny_models

    from .tiny_depth import tiny_original_state_dict
    from .tiny_sam import save_tiny_sam
    from .tiny_svd_file import NATIVE_MODEL_FILES, write_native_workflow_models

    root = write_native_workflow_models(Path(root))
    (root / "levitor").mkdir(exist_ok=True)
    name = NATIVE_MODEL_FILES["controlnet"]
    shutil.copy(root / "controlnet" / name, root / "levitor" / name)
    # its config beside it: the tiny sizes, which a diffusers SVD folder's UNet cannot tell
    load_controlnet(root / "levitor" / name).save_config(root / "levitor")
    # the earlier layouts, for saved workflows
    paths = save_tiny_models(root / "_tiny")
    (root / "diffusers").mkdir(parents=True, exist_ok=True)
    shutil.move(str(paths["svd"]), root / "diffusers" / "stable-video-diffusion-img2vid-xt")
    shutil.rmtree(root / "_tiny")
    save_tiny_sam(root / "sams" / "sam_vit_h_4b8939.pth")
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
