"""LeviTorDepthAnything: Depth-Anything-V2 relative disparity from ``models/depthanything``."""

from __future__ import annotations

import numpy as np

from levitor import limits
from levitor.depth_estimation import DepthEstimator

from . import convert, host
from .api import io, keyword_defaults
from .model_cache import KeyedCache
from .sockets import CATEGORY

NO_DEPTH = "(no Depth-Anything-V2 model in models/depthanything)"
RUN_DEFAULTS = keyword_defaults(DepthEstimator.__call__)

_estimators = KeyedCache(1)


def depth_choices() -> list[str]:
    """Single-file checkpoints and transformers folders under ``models/depthanything``."""
    files = [f for f in host.list_files("depthanything") if f.lower().endswith((".pth", ".pt", ".safetensors"))]
    dirs = host.list_model_dirs("depthanything", ["config.json"])
    return sorted(set(files) | set(dirs)) or [NO_DEPTH]


def resolve_depth_model(name: str) -> str:
    if name == NO_DEPTH or not name:
        roots = ", ".join(host.folder_paths_for("depthanything")) or "models/depthanything"
        raise ValueError(
            f"depth_model: no Depth-Anything-V2 model found; put depth_anything_v2_vitl.pth (or vits/vitb, .pth or "
            f".safetensors) or a transformers folder (depth-anything/Depth-Anything-V2-Large-hf) into {roots}"
        )
    if name.lower().endswith((".pth", ".pt", ".safetensors")):
        return host.resolve_model_file("depthanything", name)
    return host.resolve_model_dir("depthanything", name)


def load_estimator(name: str) -> DepthEstimator:
    """The (cached) ``levitor.depth_estimation.DepthEstimator`` for a model under ``models/depthanything``."""
    path = resolve_depth_model(name)
    device = host.torch_device()

    def load() -> DepthEstimator:
        estimator = DepthEstimator.from_pretrained(path, device=device)
        host.soft_empty_cache()
        return estimator

    return _estimators.get_or_load((path, str(device)), load)


def disparity_to_image(disparity: np.ndarray) -> np.ndarray:
    """Min-max normalise a disparity map to 0..1 (near = bright) as ``(H, W, 3)`` float32."""
    d = np.asarray(disparity, dtype=np.float32)
    lo, hi = float(d.min()), float(d.max())
    norm = (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)
    return np.repeat(norm[..., None], 3, axis=-1)


class LeviTorDepthAnything(io.ComfyNode):
    """Node: relative disparity with Depth-Anything-V2."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        host.register_model_folders()
        return io.Schema(
            node_id="LeviTorDepthAnything",
            display_name="LeviTor Depth Anything V2",
            category=CATEGORY,
            description=(
                "Estimates relative depth with Depth-Anything-V2 (transformers): a disparity image, near = bright, "
                "min-max normalised to 0..1 per image. Reference settings: ViT-L, input size 512 (run at a multiple "
                "of 14 not below it), red and blue swapped as the reference's preprocessing does. Any other depth "
                "pack's image works in its place."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Image batch; every item gets its own depth map."),
                io.Combo.Input("depth_model", options=depth_choices(),
                               tooltip="Depth-Anything-V2 under models/depthanything: depth_anything_v2_vits, _vitb or "
                                       "_vitl (.pth or .safetensors) or a transformers folder."),
                io.Int.Input("input_size", default=RUN_DEFAULTS["input_size"], step=1,
                             **limits.DEPTH_INPUT_SIZE.widget(),
                             tooltip="Shorter side the network sees, rounded up to a multiple of 14 (reference "
                                     "512, run at 518)."),
                io.Boolean.Input("swap_red_blue", default=RUN_DEFAULTS["swap_rb"],
                                 tooltip="Swap red and blue before the network, as the reference does (on for "
                                         "parity, off for the intended colours)."),
            ],
            outputs=[io.Image.Output("depth", display_name="depth",
                                     tooltip="Disparity image per input image: near = bright, 0..1, same size as "
                                             "the input.")],
        )

    @classmethod
    def execute(cls, image, depth_model, input_size, swap_red_blue) -> io.NodeOutput:
        arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
        if arr.ndim == 3:
            arr = arr[None]
        count = int(arr.shape[0]) if arr.ndim == 4 else 0
        if count == 0:
            raise ValueError(f"image must be a non-empty IMAGE [B, H, W, C], got shape {tuple(arr.shape)}")
        bar = host.progress_bar(count + 1)
        estimator = load_estimator(depth_model)
        bar.update(1)
        out = []
        for i in range(count):
            host.check_interrupted()
            rgb = convert.image_to_numpy(image, name="image", index=i)
            disparity = estimator(rgb, input_size=int(input_size), swap_rb=bool(swap_red_blue))
            out.append(disparity_to_image(disparity))
            bar.update(1)
        return io.NodeOutput(convert.numpy_to_image(np.stack(out)))


NODES = [LeviTorDepthAnything]
