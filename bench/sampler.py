"""Sampler cost of the full-size architecture (random weights): time per step and model memory.

Builds the SVD-xt UNet and the LeviTor ControlNet at full size with random weights (no download),
times one denoising step at a small latent size on the chosen device for the UNet alone and for
ControlNet + UNet (the ControlNet overhead), and reports memory:

* ``rss_*``: resident memory of this process (CPU RSS) after loading the half-precision models
  and its peak during the timed steps;
* ``flops``: FLOPs of one guidance step of the UNet and the ControlNet at the reference size,
  counted on fake tensors (exact, unaffected by other load on the machine);
* ``device_resident_*``: parameter bytes that must sit on the execution device at once for each
  offload mode (none: every model; model offload: ControlNet + UNet, which alternate every step;
  sequential: the largest single layer), counted from the full-size SVD-xt components.

    python bench/sampler.py [--latent 16x16] [--frames 4] [--steps 3] [--dtype bf16] [--device cpu]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

GiB = 1024**3


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def random_model(cls, config: dict, dtype: torch.dtype, device: torch.device):
    """Instantiate ``cls(**config)`` without fp32 materialisation and fill it with random weights."""
    with torch.device("meta"):
        model = cls(**config)
    model = model.to_empty(device=device)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.data = torch.empty(p.shape, dtype=dtype, device=device).normal_(0.0, 0.02)
    return model.eval()


def count_bytes(module: torch.nn.Module, bytes_per_param: int = 2) -> int:
    return sum(p.numel() for p in module.parameters()) * bytes_per_param


def largest_leaf_bytes(module: torch.nn.Module, bytes_per_param: int = 2) -> int:
    """Largest parameter set of a module that sequential offload moves as one unit (a leaf layer)."""
    best = 0
    for m in module.modules():
        direct = sum(p.numel() for p in m.parameters(recurse=False))
        best = max(best, direct * bytes_per_param)
    return best


def full_size_vae_and_clip():
    """SVD-xt VAE and CLIP ViT-H/14 image encoder on the meta device (for counting only)."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.device("meta"):
        vae = AutoencoderKLTemporalDecoder(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
        )
        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
            image_size=224, patch_size=14, projection_dim=1024,
        ))
    return vae, clip


def flop_counts(config: dict, frames: int, h: int, w: int) -> tuple[float, float]:
    """FLOPs of one CFG step (batch 2) of the UNet and of the ControlNet at latent ``h x w``.

    Counted with ``FlopCounterMode`` on fake tensors: exact for the architecture, independent of
    the machine's load, no memory needed.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from levitor.generation.models.controlnet_svd import ControlNetSVDModel
    from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel

    with FakeTensorMode():
        unet = UNetSpatioTemporalControlModel(**config)
        controlnet = ControlNetSVDModel(**config)
        sample = torch.randn(2, frames, 8, h, w)
        emb = torch.randn(2, 1, config["cross_attention_dim"])
        ids = torch.randn(2, 3)
        cond = torch.randn(2, frames, 3, 8 * h, 8 * w)
        t = torch.tensor(0.5)
        with torch.no_grad():
            with FlopCounterMode(display=False) as counter:
                unet(sample, t, emb, ids)
            unet_flops = counter.get_total_flops()
            with FlopCounterMode(display=False) as counter:
                controlnet(sample, t, emb, ids, cond)
            controlnet_flops = counter.get_total_flops()
    return float(unet_flops), float(controlnet_flops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", default="16x16", help="latent height x width (image = 8x); default 16x16")
    parser.add_argument("--frames", type=int, default=4, help="frames (default 4)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (default 3)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="weights dtype")
    parser.add_argument("--device", default="cpu", help="execution device (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--flops-latent", default="64x36",
                        help="latent size for the FLOP count (default 64x36 = 512x288 video); 'none' skips it")
    parser.add_argument("--flops-frames", type=int, default=16, help="frames for the FLOP count (default 16)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from levitor.generation.models.controlnet_svd import ControlNetSVDModel
    from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
    from levitor.generation.tiny import SVD_XT_UNET_CONFIG

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    device = torch.device(args.device)
    h, w = (int(v) for v in args.latent.lower().split("x"))
    f = args.frames
    print(f"device={device} dtype={args.dtype} threads={torch.get_num_threads()} latent={h}x{w} "
          f"(image {8 * h}x{8 * w}) frames={f} batch=2 (CFG)")

    if args.flops_latent.lower() != "none":
        fh, fw = (int(v) for v in args.flops_latent.lower().split("x"))
        fu, fc = flop_counts(SVD_XT_UNET_CONFIG, args.flops_frames, fh, fw)
        print(f"flops per CFG step at latent {fh}x{fw}, {args.flops_frames} frames: unet {fu / 1e12:.2f} TFLOP, "
              f"controlnet {fc / 1e12:.2f} TFLOP, controlnet_flop_overhead_pct {100 * fc / fu:.1f}")

    rss0 = rss_bytes()
    t0 = time.perf_counter()
    unet = random_model(UNetSpatioTemporalControlModel, SVD_XT_UNET_CONFIG, dtype, device)
    controlnet = random_model(ControlNetSVDModel, SVD_XT_UNET_CONFIG, dtype, device)
    gc.collect()
    rss_loaded = rss_bytes()
    print(f"built full-size UNet + ControlNet in {time.perf_counter() - t0:.1f} s")
    bpp = torch.finfo(dtype).bits // 8
    print(f"unet params       {sum(p.numel() for p in unet.parameters()):,} ({count_bytes(unet, bpp) / GiB:.2f} GiB)")
    print(f"controlnet params {sum(p.numel() for p in controlnet.parameters()):,} ({count_bytes(controlnet, bpp) / GiB:.2f} GiB)")
    print(f"rss_loaded        {rss_loaded / GiB:.2f} GiB (increase {(rss_loaded - rss0) / GiB:.2f} GiB)")

    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(2, f, 8, h, w, generator=gen).to(device, dtype)
    emb = torch.randn(2, 1, 1024, generator=gen).to(device, dtype)
    ids = torch.tensor([[5.0, 100.0, 0.02]] * 2).to(device, dtype)
    cond = (torch.rand(2, f, 3, 8 * h, 8 * w, generator=gen) * 255).to(device, dtype)
    t = torch.tensor(0.5, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def unet_step():
        return unet(sample, t, emb, ids).sample

    def both_step():
        down, mid = controlnet(sample, t, emb, ids, cond, return_dict=False)
        return unet(sample, t, emb, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample

    def controlnet_step():
        return controlnet(sample, t, emb, ids, cond, return_dict=False)

    # Interleaved repetitions, best of each: robust against other processes sharing the machine.
    fns = {"unet": unet_step, "controlnet": controlnet_step, "controlnet+unet": both_step}
    times = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn()  # warm-up
        for _ in range(args.steps):
            for name, fn in fns.items():
                sync()
                start = time.perf_counter()
                fn()
                sync()
                times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    for name, value in best.items():
        print(f"{name + '_step_s':22s} {value:.3f}  (all: {', '.join(f'{x:.2f}' for x in times[name])})")
    print(f"controlnet_overhead_pct {100 * (best['controlnet+unet'] / best['unet'] - 1):.1f} (combined vs UNet), "
          f"{100 * best['controlnet'] / best['unet']:.1f} (ControlNet alone vs UNet)")
    print(f"rss_peak          {peak_rss_bytes() / GiB:.2f} GiB")

    vae, clip = full_size_vae_and_clip()
    half = 2
    sizes = {
        "unet": count_bytes(unet, half), "controlnet": count_bytes(controlnet, half),
        "vae": count_bytes(vae, half), "image_encoder": count_bytes(clip, half),
    }
    print("fp16 parameter bytes (full size): " + ", ".join(f"{k} {v / GiB:.2f} GiB" for k, v in sizes.items()))
    print(f"device_resident_no_offload     {sum(sizes.values()) / GiB:.2f} GiB")
    print(f"device_resident_model_offload  {(sizes['unet'] + sizes['controlnet']) / GiB:.2f} GiB")
    seq = max(largest_leaf_bytes(m, half) for m in (unet, controlnet, vae, clip))
    print(f"device_resident_sequential     {seq / GiB:.3f} GiB (largest single layer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
