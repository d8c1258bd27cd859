"""Native path (ComfyUI's SVD UNet + the LeviTor control, KSampler) vs wrapper path (LeviTorPipeline's
UNet + ControlNet): seconds per sampling step and device memory, at full size with random weights.

Runs with the python of a ComfyUI host (``COMFYUI_DIR`` names the checkout)::

    COMFYUI_DIR=/path/to/ComfyUI $COMFYUI_PYTHON bench/native.py [--latent 8x8] [--frames 2] [--steps 2]

Both paths build the full-size SVD-xt UNet and LeviTor ControlNet with random weights in the chosen
dtype, one path after the other (the first is freed before the second is built), and time CFG steps
(batch 2) on the CPU:

* wrapper: one step = ControlNet + UNet forward as ``LeviTorPipeline`` runs them;
* native: ``comfy.sample.sample`` with euler/karras (what ``KSampler`` runs), the ControlNet
  attached by ``LeviTorApplyControlNet``; seconds per step = run time / steps.

Device memory is computed from the models (nothing is measured on a device): the weights that sit on
the device while sampling plus, for the native path, ComfyUI's own inference estimate
(``memory_required`` + its minimum reserve). Native normal: UNet + ControlNet loaded whole; native
``--lowvram``/``--novram``: ComfyUI casts and moves layers per call, the floor being the largest
layer. Wrapper: offload none (UNet, ControlNet, VAE, CLIP on the device), ``model`` (the largest
model at a time) and ``sequential`` (the largest layer); ComfyUI's low-VRAM modes do not apply.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GiB = 1024**3


def comfy_setup(comfy_dir: str):
    """ComfyUI's modules in this process on the CPU, and the pack's native nodes."""
    sys.path[:0] = [str(REPO / "tests" / "integration"), str(HERE)]
    from native_host_check import setup

    return setup(comfy_dir, extra_args=[])


def wrapper_part(args, dtype, h, w, f) -> dict:
    import torch

    from levitor.generation.models.controlnet_svd import ControlNetSVDModel
    from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
    from levitor.generation.tiny import SVD_XT_UNET_CONFIG
    from sampler import count_bytes, full_size_vae_and_clip, largest_leaf_bytes, random_model

    unet = random_model(UNetSpatioTemporalControlModel, SVD_XT_UNET_CONFIG, dtype, torch.device("cpu"))
    controlnet = random_model(ControlNetSVDModel, SVD_XT_UNET_CONFIG, dtype, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(2, f, 8, h, w, generator=gen).to(dtype)
    emb = torch.randn(2, 1, 1024, generator=gen).to(dtype)
    ids = torch.tensor([[5.0, 100.0, 0.02]] * 2).to(dtype)
    cond = (torch.rand(2, f, 3, 8 * h, 8 * w, generator=gen) * 255).to(dtype)
    t = torch.tensor(0.5)
    times = []
    with torch.no_grad():
        for i in range(args.steps + 1):  # the first is a warm-up
            start = time.perf_counter()
            down, mid = controlnet(sample, t, emb, ids, cond, return_dict=False)
            unet(sample, t, emb, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid)
            if i:
                times.append(time.perf_counter() - start)
    bpp = torch.finfo(dtype).bits // 8
    vae, clip = full_size_vae_and_clip()
    weights = {"unet": count_bytes(unet, bpp), "controlnet": count_bytes(controlnet, bpp),
               "vae": count_bytes(vae, 2), "clip": count_bytes(clip, 2)}
    out = {
        "step_s": min(times), "all_s": times,
        "device_none": sum(weights.values()),
        "device_model_offload": max(weights.values()),
        "device_sequential": max(largest_leaf_bytes(m, bpp) for m in (unet, controlnet)),
    }
    del unet, controlnet, down, mid
    gc.collect()
    return out


def sgm_shapes(dtype):
    """SGM-named meta tensors of the full-size UNet (what ComfyUI's model detection reads)."""
    import torch

    from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
    from levitor.generation.single_file import UNET_PREFIX, _unet_names
    from levitor.generation.tiny import SVD_XT_UNET_CONFIG

    with torch.device("meta"):
        unet = UNetSpatioTemporalControlModel(**SVD_XT_UNET_CONFIG)
    state = unet.state_dict()
    return {UNET_PREFIX + sgm: torch.empty(state[k].shape, dtype=dtype, device="meta")
            for k, sgm in _unet_names(unet).items()}


def native_part(native, args, dtype, h, w, f) -> dict:
    import comfy.model_detection
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sample
    import comfy.supported_models
    import torch

    from levitor.generation.models.controlnet_svd import ControlNetSVDModel
    from levitor.generation.tiny import SVD_XT_UNET_CONFIG
    from sampler import largest_leaf_bytes, random_model

    unet_config = comfy.model_detection.detect_unet_config(sgm_shapes(dtype), "model.diffusion_model.")
    model_config = comfy.supported_models.SVD_img2vid(unet_config)
    model_config.set_inference_dtype(dtype, None)
    model = model_config.get_model({}, "model.diffusion_model.", device=torch.device("cpu"))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                               offload_device=mm.unet_offload_device())
    cn = native.manage_controlnet(random_model(ControlNetSVDModel, SVD_XT_UNET_CONFIG, dtype, torch.device("cpu")),
                                  "random", weight_dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    maps = torch.rand((f, 3, 8 * h, 8 * w), generator=gen) * 255
    extra = {"fps": 6, "motion_bucket_id": 100, "augmentation_level": 0.02}
    pos = [[torch.randn((1, 1, 1024), generator=gen), dict(extra, concat_latent_image=torch.randn((1, 4, h, w)))]]
    neg = [[torch.zeros((1, 1, 1024)), dict(extra, concat_latent_image=torch.zeros((1, 4, h, w)))]]
    pos, neg = native.apply_control(pos, neg, cn, maps, 1.0, 0.0, 1.0)
    latent = torch.zeros((f, 4, h, w))
    noise = torch.randn((f, 4, h, w), generator=gen)

    def run(steps):
        start = time.perf_counter()
        comfy.sample.sample(patcher, noise, steps, 2.5, "euler", "karras", pos, neg, latent, seed=0,  # noqa: F821
                            disable_pbar=True)
        return time.perf_counter() - start

    with torch.no_grad():
        run(1)  # warm-up (loads the models)
        total = run(args.steps)
    unet_bytes, cn_bytes = patcher.model_size(), cn.patcher.model_size()
    floor = max(largest_leaf_bytes(model, torch.finfo(dtype).bits // 8),
                largest_leaf_bytes(cn.net, torch.finfo(dtype).bits // 8))
    reserve = mm.minimum_inference_memory()

    def inference(shape):
        return model.memory_required(shape) + reserve  # noqa: F821  (called before the del below)

    ref_shape = [2 * 16, 4, 36, 64]  # 288x512, 16 frames, CFG batch
    out = {
        "step_s": total / args.steps,
        "weights_unet": unet_bytes, "weights_controlnet": cn_bytes,
        "device_normal": unet_bytes + cn_bytes + inference([2 * f, 4, h, w]),
        "device_lowvram_floor": floor + inference([2 * f, 4, h, w]),
        "device_normal_288x512x16": unet_bytes + cn_bytes + inference(ref_shape),
        "device_lowvram_floor_288x512x16": floor + inference(ref_shape),
    }
    del model, patcher, cn, pos, neg
    gc.collect()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", default="8x8", help="latent height x width (image = 8x); default 8x8")
    parser.add_argument("--frames", type=int, default=2, help="frames (default 2)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per path (default 2)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    comfy_dir = os.environ.get("COMFYUI_DIR")
    if not comfy_dir:
        print("set COMFYUI_DIR to a ComfyUI checkout and run with its python", file=sys.stderr)
        return 2
    native = comfy_setup(comfy_dir)
    import torch

    torch.set_num_threads(args.threads)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    h, w = (int(v) for v in args.latent.lower().split("x"))
    print(f"cpu threads={args.threads} dtype={args.dtype} latent={h}x{w} (image {8 * h}x{8 * w}) frames={args.frames} "
          "batch=2 (CFG)")
    wrapper = wrapper_part(args, dtype, h, w, args.frames)
    print(f"wrapper step_s {wrapper['step_s']:.2f} (all: {', '.join(f'{x:.2f}' for x in wrapper['all_s'])})")
    native_result = native_part(native, args, dtype, h, w, args.frames)
    print(f"native  step_s {native_result['step_s']:.2f} (KSampler euler/karras, mean of {args.steps})")
    print("device memory (GiB):")
    print(f"  wrapper offload none        {wrapper['device_none'] / GiB:.2f}  (UNet + ControlNet + VAE + CLIP weights)")
    print(f"  wrapper offload model       {wrapper['device_model_offload'] / GiB:.2f}  (largest model)")
    print(f"  wrapper offload sequential  {wrapper['device_sequential'] / GiB:.2f}  (largest layer)")
    for key, label in (("device_normal", "native normal"), ("device_lowvram_floor", "native low-VRAM floor"),
                       ("device_normal_288x512x16", "native normal @288x512x16"),
                       ("device_lowvram_floor_288x512x16", "native low-VRAM floor @288x512x16")):
        print(f"  {label:34s} {native_result[key] / GiB:.2f}  (weights + ComfyUI inference estimate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
