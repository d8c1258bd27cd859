"""LeviTorDepthAnything: Depth-Anything-V2 relative disparity from ``models/depthanything``."""

from __future__ import annotations

import threading

import numpy as np

from . import convert, host
from .sockets import CATEGORY

NO_DEPTH = "(no Depth-Anything-V2 model in models/depthanything)"

_lock = threading.Lock()
_cache: dict = {"key": None, "estimator": None}


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


def load_estimator(name: str):
    """The (cached) ``levitor.depth_estimation.DepthEstimator`` for a model under ``models/depthanything``."""
    from levitor.depth_estimation import DepthEstimator

    path = resolve_depth_model(name)
    device = host.torch_device()
    key = (path, str(device))
    with _lock:
        if _cache["key"] == key:
            return _cache["estimator"]
    estimator = DepthEstimator.from_pretrained(path, device=device)
    with _lock:
        _cache["key"], _cache["estimator"] = key, estimator
    host.soft_empty_cache()
    return estimator


def disparity_to_image(disparity: np.ndarray) -> np.ndarray:
    """Min-max normalise a disparity map to 0..1 (near = bright) as ``(H, W, 3)`` float32."""
    d = np.asarray(disparity, dtype=np.float32)
    lo, hi = float(d.min()), float(d.max())
    norm = (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)
    return np.repeat(norm[..., None], 3, axis=-1)


class LeviTorDepthAnything:
    """Node: relative disparity with Depth-Anything-V2."""

    DESCRIPTION = (
        "Estimates relative depth with Depth-Anything-V2 (transformers): a disparity image, near = bright, "
        "min-max normalised to 0..1 per image. Reference settings: ViT-L, input size 512 (run at a multiple of 14 "
        "not below it), red and blue swapped as the reference's preprocessing does. Any other depth pack's image "
        "works in its place."
    )
    CATEGORY = CATEGORY
    FUNCTION = "estimate"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("depth",)
    OUTPUT_TOOLTIPS = ("Disparity image per input image: near = bright, 0..1, same size as the input.",)

    @classmethod
    def INPUT_TYPES(cls):
        host.register_model_folders()
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Image batch; every item gets its own depth map."}),
                "depth_model": (depth_choices(), {"tooltip": "Depth-Anything-V2 under models/depthanything: "
                                                             "depth_anything_v2_vit{s,b,l}.pth/.safetensors or a "
                                                             "transformers folder."}),
                "input_size": ("INT", {"default": 512, "min": 14, "max": 2048, "step": 1,
                                       "tooltip": "Shorter side the network sees, rounded up to a multiple of 14 "
                                                  "(reference 512, run at 518)."}),
                "swap_red_blue": ("BOOLEAN", {"default": True,
                                              "tooltip": "Swap red and blue before the network, as the reference "
                                                         "does (on for parity, off for the intended colours)."}),
            },
        }

    def estimate(self, image, depth_model, input_size, swap_red_blue):
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
        return (convert.numpy_to_image(np.stack(out)),)


NODE_CLASS_MAPPINGS = {"LeviTorDepthAnything": LeviTorDepthAnything}
NODE_DISPLAY_NAME_MAPPINGS = {"LeviTorDepthAnything": "LeviTor Depth Anything V2"}
