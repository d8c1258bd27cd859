"""Checks of the native nodes inside a real ComfyUI process (run with the host's python).

``python native_host_check.py COMFYUI_DIR CHECK WORK_DIR [MAIN_ARGS...]`` with CHECK ``residuals``,
``casting`` or ``graph`` (MAIN_ARGS: more ComfyUI command-line flags, e.g. ``--lowvram``); prints one
JSON line with the measured differences and exits 1 when a bound is exceeded.

* ``residuals``: the ControlNet loaded by ``LeviTorControlNetLoader`` (ComfyUI's patcher and
  casting layers) and driven by ``LeviTorApplyControlNet``'s control with ComfyUI's own inputs gives
  the residuals of ``ControlNetSVDModel.forward`` on the same inputs (fp32, CPU, 1e-4).
* ``casting``: the ControlNet's layers get their weights only from ``comfy.ops.cast_bias_weight``,
  as core layers do: with every layer set to cast, the stored weights zeroed and
  ``cast_bias_weight`` handing out the true ones (what happens when dynamic VRAM keeps weights in
  another place), the residuals stay those of plain layers. Every layer calls it; on a host whose
  ``cast_bias_weight`` returns three values (current ComfyUI) each call is offloadable and matched by
  an ``uncast_bias_weight`` with what it returned.
* ``graph``: ComfyUI's SVD model classes holding tiny weights + ``LeviTorSVDConditioning`` +
  ``VideoLinearCFGGuidance`` + ``LeviTorApplyControlNet`` sampled by ComfyUI's sampler (what
  ``KSampler`` runs: euler, karras) give the latents and frames of ``LeviTorPipeline`` on the same
  weights, noise and sigmas.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: ComfyUI keeps CLIP vision weights in fp16 by default (its text-encoder dtype, even on the CPU),
#: which alone moves the image embedding by ~7e-4 here; the check compares the fp32 computation.
EXTRA_ARGS = ["--fp32-text-enc"]


def setup(comfy_dir: str, extra_args: list[str] = EXTRA_ARGS):
    """Start ComfyUI's modules in this process (CPU) and import the pack's native nodes."""
    sys.argv = [sys.argv[0], "--cpu", *extra_args]
    sys.path[:0] = [comfy_dir, str(REPO), str(REPO / "tests"), str(HERE)]
    import comfy.options

    comfy.options.enable_args_parsing()
    pack = types.ModuleType("levitor_pack")
    pack.__path__ = [str(REPO)]
    sys.modules["levitor_pack"] = pack
    spec = importlib.util.spec_from_file_location("levitor_pack.nodes", REPO / "nodes" / "__init__.py",
                                                  submodule_search_locations=[str(REPO / "nodes")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["levitor_pack.nodes"] = module
    spec.loader.exec_module(module)
    import levitor_pack.nodes.native as native

    return native


def register_folder(key: str, path: Path) -> None:
    import folder_paths

    folder_paths.add_model_folder_path(key, str(path), is_default=True)


def tiny_models(work: Path):
    """Tiny SGM SVD file under checkpoints/, ControlNet file under controlnet/, and the components."""
    from fakes.tiny_svd_file import save_tiny_svd_file

    parts = save_tiny_svd_file(work / "checkpoints" / "svd_xt.safetensors")
    (work / "controlnet").mkdir(parents=True, exist_ok=True)
    from levitor.io.weights import write_state_dict

    write_state_dict(parts["controlnet"].state_dict(), work / "controlnet" / "levitor_controlnet.safetensors")
    register_folder("checkpoints", work / "checkpoints")
    register_folder("controlnet", work / "controlnet")
    return parts


def check_residuals(native, work: Path) -> dict:
    import comfy.model_management as mm

    from tiny_svd_host import load_tiny_svd

    parts = tiny_models(work)
    cn = native.load_native_controlnet("levitor_controlnet.safetensors")
    model, _, _ = load_tiny_svd(str(work / "checkpoints" / "svd_xt.safetensors"))
    ms = model.model.model_sampling
    g = torch.Generator().manual_seed(1)
    frames, h, w = 3, 8, 8
    maps = torch.rand((frames, 3, 8 * h, 8 * w), generator=g) * 255
    control = native._control_base()(cn, maps)
    control.pre_run(model.model, lambda p: ms.percent_to_sigma(p))
    mm.load_models_gpu([model] + control.get_models())
    videos = 2  # the uncond and cond halves, as ComfyUI batches them
    x = torch.randn((videos * frames, 4, h, w), generator=g) * 5
    sigma = torch.full((videos * frames,), 3.7)
    c_concat = torch.randn((videos * frames, 4, h, w), generator=g)
    context = torch.randn((videos, 1, 32), generator=g)
    ids = torch.tensor([[5.0, 100.0, 0.02], [7.0, 30.0, 0.5]])
    y = torch.cat([model.model.encode_adm(fps=int(i[0]) + 1, motion_bucket_id=i[1], augmentation_level=i[2])
                   for i in ids]).repeat_interleave(frames, 0)
    cond = {"c_concat": c_concat, "c_crossattn": context.repeat_interleave(frames, 0), "y": y,
            "num_video_frames": frames}
    out = control.get_control(x, sigma, cond, videos, {})

    ref_net = parts["controlnet"]
    scaled = x / (sigma[:, None, None, None] ** 2 + 1) ** 0.5
    sample = torch.cat([scaled, c_concat], 1).reshape(videos, frames, 8, h, w)
    with torch.no_grad():
        down, mid = ref_net(sample, 0.25 * torch.log(sigma[:1]), context, ids,
                            maps[None].repeat(videos, 1, 1, 1, 1), return_dict=False)
    diffs = [float((a - b).abs().max()) for a, b in zip(out["output"], down)]
    diffs.append(float((out["middle"][0] - mid).abs().max()))
    scale = max(float(t.abs().max()) for t in list(down) + [mid])
    # Low-VRAM loading: ComfyUI leaves every layer on the offload device and casts it per call.
    cn.patcher.detach()
    cn.patcher.load(torch.device("cpu"), lowvram_model_memory=1)
    cast_layers = sum(1 for m in cn.net.modules() if getattr(m, "comfy_cast_weights", False))
    low = control.get_control(x, sigma, cond, videos, {})
    low_diff = max(float((a - b).abs().max()) for a, b in zip(low["output"] + low["middle"], list(down) + [mid]))
    control.cleanup()
    errors = node_errors(native, control, cn, maps, x, sigma, cond)
    return {"max_abs_diff": max(diffs), "largest_residual": scale, "count": len(out["output"]), "errors": errors,
            "lowvram_cast_layers": cast_layers, "lowvram_max_abs_diff": low_diff,
            "ok": max(diffs) <= 1e-4 and len(out["output"]) == 12 and all(errors.values())
            and cast_layers > 0 and low_diff <= 1e-4}


def check_casting(native, work: Path) -> dict:
    import comfy.ops

    tiny_models(work)
    cn = native.load_native_controlnet("levitor_controlnet.safetensors")
    net = cn.net
    g = torch.Generator().manual_seed(2)
    videos, frames, h, w = 2, 3, 8, 8
    n = videos * frames
    sample = torch.randn((n, 8, h, w), generator=g)
    timestep = torch.full((n,), 0.4)
    context = torch.randn((n, 1, 32), generator=g)
    y = torch.randn((n, net.add_embedding.linear_1.in_features), generator=g)
    hint = torch.rand((n, 3, 8 * h, 8 * w), generator=g) * 255

    def residuals():
        down, mid = native.controlnet_residuals(net, sample, timestep, context, y, hint, frames)
        return list(down) + [mid]

    plain = residuals()
    layers = [m for m in net.modules() if isinstance(m, comfy.ops.CastWeightBiasOp)]
    cast_params = {id(p) for m in layers for p in m.parameters(recurse=False)}
    other_params = sorted(name for name, p in net.named_parameters() if id(p) not in cast_params)
    true = {m: (m.weight.detach().clone(), None if m.bias is None else m.bias.detach().clone()) for m in layers}
    calls, uncalls, returned = [], [], {}
    original_cast = comfy.ops.cast_bias_weight
    original_uncast = getattr(comfy.ops, "uncast_bias_weight", None)

    def cast(s, input=None, *args, **kwargs):
        out = original_cast(s, input, *args, **kwargs)
        calls.append((s, kwargs.get("offloadable", False), len(out)))
        weight, bias = true[s]
        weight = weight.to(device=out[0].device, dtype=out[0].dtype)
        bias = None if bias is None else bias.to(device=out[1].device, dtype=out[1].dtype)
        returned[id(s)] = (weight, bias, out[2:])
        return (weight, bias, *out[2:])

    def uncast(s, weight, bias, stream):
        w, b, rest = returned[id(s)]
        uncalls.append(weight is w and bias is b and (stream is rest[0] if rest else stream is None))
        return original_uncast(s, weight, bias, stream)

    for m in layers:
        m.comfy_cast_weights = True
        with torch.no_grad():
            for p in m.parameters(recurse=False):
                p.zero_()
    comfy.ops.cast_bias_weight = cast
    if original_uncast is not None:
        comfy.ops.uncast_bias_weight = uncast
    try:
        cast_out = residuals()
    finally:
        comfy.ops.cast_bias_weight = original_cast
        if original_uncast is not None:
            comfy.ops.uncast_bias_weight = original_uncast
    diff = max(float((a - b).abs().max()) for a, b in zip(cast_out, plain))
    called = {id(s) for s, _, _ in calls}
    values = sorted({k for _, _, k in calls})
    three = values == [3]
    result = {"layers": len(layers), "calls": len(calls), "layers_called": len(called & {id(m) for m in layers}),
              "returned_values": values, "offloadable": all(o for _, o, _ in calls) if three else None,
              "uncast_matched": (len(uncalls) == len(calls) and all(uncalls)) if three else None,
              "params_outside_cast_layers": other_params, "max_abs_diff": diff}
    result["ok"] = (diff <= 1e-5 and len(layers) > 0 and result["layers_called"] == len(layers)
                    and (not three or (result["offloadable"] and result["uncast_matched"])))
    return result


def node_errors(native, control, cn, maps, x, sigma, cond) -> dict:
    """Frame count, size and batch mismatches are ValueErrors that say what to change."""
    def message(fn) -> str:
        try:
            fn()
        except ValueError as exc:
            return str(exc)
        return ""

    frames = maps.shape[0]
    wrong_frames = message(lambda: control.get_control(x, sigma, dict(cond, num_video_frames=frames + 1), 2, {}))
    wrong_batch = message(lambda: native.check_latents(maps, (2 * frames + 1, 4, *x.shape[-2:]), frames))
    small = [[torch.zeros(1, 1, 32), {"concat_latent_image": torch.zeros(1, 4, 4, 4)}]]
    wrong_size = message(lambda: native.apply_control(small, small, cn, maps, 1.0, 0.0, 1.0))
    return {"frames": "video_frames" in wrong_frames and str(frames) in wrong_frames,
            "batch": "whole number" in wrong_batch,
            "size": "width and height" in wrong_size and "32x32" in wrong_size}


def check_graph(native, work: Path) -> dict:
    import comfy.sample
    import numpy as np
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance

    from levitor.generation.conditioning import encode_clip_image, encode_first_frame_latents
    from levitor.generation.pipeline import LeviTorPipeline
    from tiny_svd_host import load_tiny_svd

    tiny_models(work)
    model, clip_vision, vae = load_tiny_svd(str(work / "checkpoints" / "svd_xt.safetensors"))
    cn = native.load_native_controlnet("levitor_controlnet.safetensors")
    g = np.random.default_rng(3)
    frames, height, width = 4, 64, 96
    image = g.integers(0, 256, (height, width, 3), dtype=np.uint8)
    maps = g.uniform(0, 255, (frames, 3, height, width)).astype(np.float32)
    steps, cfg, min_cfg, seed = 3, 2.5, 1.0, 217
    fps, motion, aug = 6, 100, 0.02

    # ComfyUI's SVD UNet attends per sample: compare with the pipeline in that mode
    pipe = LeviTorPipeline.from_single_file(work / "checkpoints" / "svd_xt.safetensors",
                                            work / "controlnet" / "levitor_controlnet.safetensors",
                                            precision="fp32", device="cpu", temporal_context="per-sample")
    pipe.set_progress_bar_config(disable=True)
    ref_latents = pipe(image, maps, num_inference_steps=steps, min_guidance_scale=min_cfg, max_guidance_scale=cfg,
                       fps=fps, motion_bucket_id=motion, noise_aug_strength=aug, seed=seed,
                       output_type="latent").frames[0]
    ref_frames = pipe(image, maps, num_inference_steps=steps, min_guidance_scale=min_cfg, max_guidance_scale=cfg,
                      fps=fps, motion_bucket_id=motion, noise_aug_strength=aug, seed=seed, output_type="np").frames[0]

    # The pipeline's second draw of its generator: the initial latents.
    gen = torch.Generator("cpu").manual_seed(seed)
    torch.randn((1, 3, height, width), generator=gen)
    noise = torch.randn((1, frames, 4, height // 8, width // 8), generator=gen)[0]

    init = torch.from_numpy(image.astype(np.float32) / 255.0)[None]
    pos, neg, latent = native.LeviTorSVDConditioning.execute(clip_vision, init, vae, maps, fps, motion, aug, seed).args
    ref_embed = encode_clip_image(pipe.image_encoder, pipe.feature_extractor,
                                  torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 * 2 - 1)
    ref_concat = encode_first_frame_latents(pipe.vae, init.permute(0, 3, 1, 2) * 2 - 1, aug,
                                            generator=torch.Generator("cpu").manual_seed(seed))
    cond_diffs = {"clip_embedding_max_abs_diff": float((pos[0][0] - ref_embed).abs().max()),
                  "image_latent_max_abs_diff": float((pos[0][1]["concat_latent_image"] - ref_concat).abs().max())}
    pos, neg = native.LeviTorApplyControlNet.execute(pos, neg, cn, maps, 1.0, 0.0, 1.0).args
    guided = VideoLinearCFGGuidance().patch(model, min_cfg)[0]

    def run() -> tuple[float, float]:
        samples = comfy.sample.sample(guided, noise, steps, cfg, "euler", "karras", pos, neg, latent["samples"],
                                      denoise=1.0, seed=seed, disable_pbar=True)
        decoded = vae.decode(samples)  # (F, H, W, 3) in [0, 1]
        return (float((samples * vae_scaling(model) - ref_latents).abs().max()),
                float(np.abs(decoded.reshape(ref_frames.shape).numpy() - ref_frames).max()))

    own_eps = run()
    aligned = align_group_norm_eps(model, pipe.unet)
    latent_diff, frame_diff = run()
    # The rest is float32 rounding through three Euler steps from sigma 700 (the UNets alone agree
    # to ~1.5e-6 at one step): bound 1e-4 relative to the largest latent; frames within 1e-4.
    latent_tol = 1e-4 * max(1.0, float(ref_latents.abs().max()))
    frame_tol = 1e-4
    return {**cond_diffs, "own_eps_latent_max_abs_diff": own_eps[0], "own_eps_frame_max_abs_diff": own_eps[1],
            "group_norms_aligned": aligned, "latent_max_abs_diff": latent_diff, "latent_tolerance": latent_tol,
            "latent_max_abs": float(ref_latents.abs().max()), "frame_max_abs_diff": frame_diff,
            "frame_tolerance": frame_tol, "ok": latent_diff <= latent_tol and frame_diff <= frame_tol}


def align_group_norm_eps(model, unet) -> int:
    """Give ComfyUI's UNet the GroupNorm epsilons of the diffusers UNet (1e-6 in the res blocks, where
    ComfyUI, like the original SGM code, uses 1e-5). Returns how many norms changed."""
    from levitor.generation.single_file import _unet_names

    names = _unet_names(unet)
    ours, theirs = dict(unet.named_modules()), dict(model.model.diffusion_model.named_modules())
    changed = 0
    for key, sgm in names.items():
        if not key.endswith(".weight"):
            continue
        a, b = ours.get(key[:-7]), theirs.get(sgm[:-7])
        if isinstance(a, torch.nn.GroupNorm) and isinstance(b, torch.nn.GroupNorm) and a.eps != b.eps:
            b.eps = a.eps
            changed += 1
    return changed


def vae_scaling(model) -> float:
    return float(model.model.latent_format.scale_factor)


def main() -> int:
    comfy_dir, check, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    native = setup(comfy_dir, EXTRA_ARGS + sys.argv[4:])
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        result = {"residuals": check_residuals, "casting": check_casting, "graph": check_graph}[check](native, work)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
