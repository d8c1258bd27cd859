"""Training loop of the LeviTor ControlNet (used by ``train/train.py``).

Only the ControlNet learns; it starts as a copy of the SVD UNet's encoder
(:meth:`ControlNetSVDModel.from_unet`) or from an existing ControlNet folder. UNet, VAE and CLIP
image encoder are frozen. Distribution, mixed precision and gradient accumulation come from
Hugging Face accelerate, so ``accelerate launch`` and ``torchrun`` run it on one or many GPUs.

Per step: VAE latents of the clip are noised to a continuous ``sigma`` (EDM preconditioning,
v-prediction, :mod:`levitor.training.loss`); the ControlNet sees them with the first-frame latents,
the CLIP embedding of the first frame and the clip's control maps; its residuals go into the frozen
UNet, whose v output is regressed. All randomness of a step comes from a generator seeded by
``(seed, step, process)``, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .clips import ClipOptions, DepthCache, DepthFolder, batch_to_model_inputs
from .datasets import DataProblem, scan_dataset
from .loss import SigmaSampler, added_time_ids, add_noise, diffusion_loss, dropout_masks

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainConfig:
    """Every setting of a training run (the command-line flags of ``train/train.py``)."""

    pretrained_model_name_or_path: str = ""  # diffusers SVD-xt folder
    data_root: str = ""
    output_dir: str = "levitor-controlnet"
    controlnet_model_name_or_path: str | None = None  # start from this ControlNet instead of the UNet copy
    conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256)
    # data
    dataset_layout: str = "auto"
    davis_resolution: str | None = None
    sav_annotation: str = "manual"
    max_videos: int | None = None
    depth_dir: str | None = None
    depth_cache_dir: str | None = None
    depth_model: str | None = None
    width: int = 288
    height: int = 512
    num_frames: int = 16
    frame_interval: int = 1
    ratio: float = 1.0
    control_radius: int = 10
    use_id: bool = True
    use_depth: bool = True
    background_segment: bool = False
    min_area_frac: float = 0.0
    fixed_start: int | None = None  # always the same clip per video (overfitting checks)
    on_bad_data: str = "skip"
    dataloader_num_workers: int = 2
    # optimisation
    train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_train_steps: int = 200_000
    learning_rate: float = 1e-5
    scale_lr: bool = False
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    use_8bit_adam: bool = False
    mixed_precision: str | None = None  # "no" | "fp16" | "bf16" (default: accelerate config)
    gradient_checkpointing: bool = False
    allow_tf32: bool = False
    vae_encode_chunk_size: int = 8
    # objective
    sigma_distribution: str = "lognormal"
    sigma_loc: float = 0.7
    sigma_scale: float = 1.6
    loss_weighting: str = "edm"
    conditioning_dropout_prob: float = 0.1
    control_dropout_prob: float = 0.0
    noise_aug_strength: float = 0.02
    fps: int = 6
    motion_bucket_id: int = 100
    # bookkeeping
    seed: int = 0
    checkpointing_steps: int = 500
    checkpoints_total_limit: int | None = None
    resume_from_checkpoint: str | None = None
    validation_steps: int = 500
    num_validation_inference_steps: int = 25
    report_to: str = "tensorboard"
    logging_dir: str = "logs"
    # data-only mode
    data_only: bool = False
    preview_dir: str | None = None
    num_previews: int = 8

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if not self.data_root:
            raise ValueError("--data_root is required: the folder of the video dataset")
        if not self.data_only and not self.pretrained_model_name_or_path:
            raise ValueError("--pretrained_model_name_or_path is required: the SVD-xt diffusers folder")
        if self.width % 8 or self.height % 8 or self.width < 8 or self.height < 8:
            raise ValueError(f"--width/--height must be positive multiples of 8, got {self.width}x{self.height}")
        for name in ("num_frames", "frame_interval", "train_batch_size", "gradient_accumulation_steps",
                     "max_train_steps", "checkpointing_steps", "validation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.on_bad_data not in ("skip", "error"):
            raise ValueError(f"--on_bad_data must be 'skip' or 'error', got {self.on_bad_data!r}")
        if self.mixed_precision not in (None, "no", "fp16", "bf16"):
            raise ValueError(f"--mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning_rate must be positive, got {self.learning_rate}")
        if self.data_only and not self.preview_dir:
            raise ValueError("--data_only needs --preview_dir DIR to write the control previews to")
        if self.dataloader_num_workers < 0:
            raise ValueError(f"--dataloader_num_workers must be >= 0, got {self.dataloader_num_workers}")


# ------------------------------------------------------------------------------------ data


def build_depth_source(cfg: TrainConfig, estimator: Callable[[np.ndarray], np.ndarray] | None = None):
    """The depth of the training frames: ``--depth_dir`` maps, else an on-disk cache filled by
    ``estimator`` (or the Depth-Anything model at ``--depth_model``)."""
    if cfg.depth_dir:
        return DepthFolder(cfg.depth_dir)
    cache_dir = cfg.depth_cache_dir or os.path.join(cfg.data_root, ".levitor_depth")
    if estimator is None and cfg.depth_model:
        estimator = load_depth_estimator(cfg.depth_model)
    return DepthCache(cache_dir, estimator)


def load_depth_estimator(path: str, device: Any = None) -> Callable[[np.ndarray], np.ndarray]:
    """The project's Depth-Anything-V2 wrapper (``levitor.depth_estimation.DepthEstimator``) on
    ``device`` (default: the first of CUDA, MPS, CPU that is available)."""
    try:
        from ..depth_estimation import DepthEstimator
    except ImportError as exc:
        raise ValueError("--depth_model needs levitor.depth_estimation (Depth-Anything through transformers); "
                         f"it could not be imported ({exc}). Precompute depth into --depth_dir instead.") from exc
    if device is None:
        from ..generation.loading import default_device

        device = default_device()
    return DepthEstimator.from_pretrained(path, device=device)


def build_dataset(cfg: TrainConfig, *, estimator=None, log: Callable[[str], None] = logger.warning):
    """Scan the dataset, report its problems and build the clip dataset."""
    from .clip_dataset import VOSClipDataset

    span = (cfg.num_frames - 1) * cfg.frame_interval + 1
    records, problems = scan_dataset(cfg.data_root, cfg.dataset_layout, min_frames=span,
                                     davis_resolution=cfg.davis_resolution, sav_annotation=cfg.sav_annotation)
    for p in problems:
        log(f"dataset problem: {p}")
    if problems and cfg.on_bad_data == "error":
        raise ValueError(f"{len(problems)} dataset problem(s) found and --on_bad_data error was given; first: "
                         f"{problems[0]}")
    if cfg.max_videos:
        records = records[: cfg.max_videos]
    if not records:
        raise ValueError(f"no usable video in {cfg.data_root}" + (f" ({len(problems)} problems reported)" if problems else ""))
    options = ClipOptions(width=cfg.width, height=cfg.height, ratio=cfg.ratio, radius=cfg.control_radius,
                          use_id=cfg.use_id, use_depth=cfg.use_depth, background_segment=cfg.background_segment,
                          min_area_frac=cfg.min_area_frac)
    depth = build_depth_source(cfg, estimator)
    if isinstance(depth, DepthCache) and depth.estimator is None and not any(depth.has(r, 0) for r in records[:20]):
        raise ValueError(f"no depth for the training frames: the cache {depth.cache_dir} is empty and no estimator "
                         "was given; pass --depth_model (Depth-Anything-V2 folder) or --depth_dir with precomputed maps")
    dataset = VOSClipDataset(records, depth, options, num_frames=cfg.num_frames,
                             frame_interval=cfg.frame_interval, on_bad_data=cfg.on_bad_data, seed=cfg.seed,
                             fixed_start=cfg.fixed_start)
    dataset.problems.extend(problems)
    return dataset


def precompute_depth(dataset, *, chunk: int = 32, progress: bool = True) -> int:
    """Fill the depth cache of every annotated frame (once, in this process, so DataLoader workers
    never run the estimator). Returns the number of frames estimated; unreadable videos are
    skipped or raised per the dataset's ``on_bad_data``."""
    from tqdm.auto import tqdm

    from .datasets import BadDataError, load_clip

    cache = dataset.depth
    if not isinstance(cache, DepthCache) or cache.estimator is None:
        return 0
    todo = [(r, [i for i in range(r.num_annotated) if not cache.has(r, i)]) for r in dataset.records]
    todo = [(r, idx) for r, idx in todo if idx]
    done = 0
    bar = tqdm(total=sum(len(i) for _, i in todo), desc="depth", disable=not progress)
    for rec, indices in todo:
        try:
            for k in range(0, len(indices), chunk):
                part = indices[k:k + chunk]
                frames, _ = load_clip(rec, part)
                for i, frame in zip(part, frames):
                    cache.compute(rec, i, frame)
                    done += 1
                    bar.update(1)
        except (BadDataError, OSError) as exc:
            if dataset.on_bad_data == "error":
                raise
            dataset.problems.append(DataProblem(getattr(exc, "path", str(rec.source)), getattr(exc, "reason", str(exc))))
            logger.warning("depth not computed for %s: %s", rec.name, exc)
    bar.close()
    return done


class EpochSampler(torch.utils.data.Sampler):
    """A permutation of the videos drawn from ``(seed, epoch)``: the same order after a resume."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def write_previews(cfg: TrainConfig, *, estimator=None, progress: bool = True) -> list[Path]:
    """``--data_only``: write what the model will see for the first clips (label maps with control
    points next to the heatmaps) as GIFs and PNG frames into ``--preview_dir``."""
    from tqdm.auto import tqdm

    from ..video_io import write_frames, write_video
    from .clips import clip_preview

    dataset = build_dataset(cfg, estimator=estimator)
    precompute_depth(dataset, progress=progress)
    out = Path(cfg.preview_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    n = min(cfg.num_previews, len(dataset))
    for i in tqdm(range(n), desc="previews", disable=not progress):
        clip = dataset.load_checked(i)
        frames = clip_preview(clip)
        stem = f"{i:04d}_{clip.name}_{clip.indices[0]:05d}"
        written.append(write_video(frames, out / f"{stem}.gif", fps=cfg.fps))
        write_frames(frames, out / stem, prefix="control")
    if dataset.problems:
        (out / "problems.txt").write_text("\n".join(str(p) for p in dataset.problems) + "\n")
    return written


# ---------------------------------------------------------------------------------- models


def _checkpoint_steps(output_dir: Path) -> list[tuple[int, Path]]:
    found = []
    if output_dir.is_dir():
        for p in output_dir.iterdir():
            m = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
    return sorted(found)


def resolve_resume(cfg: TrainConfig) -> Path | None:
    """The checkpoint folder ``--resume_from_checkpoint`` names ("latest" = newest in output_dir)."""
    if not cfg.resume_from_checkpoint:
        return None
    if cfg.resume_from_checkpoint == "latest":
        found = _checkpoint_steps(Path(cfg.output_dir))
        return found[-1][1] if found else None
    path = Path(cfg.resume_from_checkpoint)
    if not path.is_dir():
        path = Path(cfg.output_dir) / cfg.resume_from_checkpoint
    if not path.is_dir() or not re.fullmatch(rf"{CHECKPOINT_PREFIX}\d+", path.name):
        raise ValueError(f"--resume_from_checkpoint {cfg.resume_from_checkpoint!r} is not a checkpoint-<step> folder "
                         f"(or 'latest')")
    return path


def load_frozen_models(cfg: TrainConfig, dtype: torch.dtype = torch.float32):
    """UNet, VAE, CLIP image encoder, feature extractor and the trainable ControlNet.

    The frozen UNet and image encoder are loaded in ``dtype`` (the mixed-precision dtype), the VAE
    in fp32 (its encoder is unstable in half precision), the ControlNet always in fp32
    (master weights); all through the library's loaders."""
    from ..generation.loading import load_controlnet, load_svd_components, training_precision
    from ..generation.models import ControlNetSVDModel

    parts = load_svd_components(cfg.pretrained_model_name_or_path, training_precision(dtype))
    unet = parts["unet"]
    if cfg.controlnet_model_name_or_path:
        controlnet = load_controlnet(cfg.controlnet_model_name_or_path, dtype=torch.float32, unet_config=unet.config)
    else:
        controlnet = ControlNetSVDModel.from_unet(
            unet, conditioning_channels=3,
            conditioning_embedding_out_channels=tuple(cfg.conditioning_embedding_out_channels))
    if controlnet.dtype != torch.float32:
        controlnet = controlnet.to(torch.float32)
    return unet, parts["vae"], parts["image_encoder"], parts["feature_extractor"], controlnet


def _make_optimizer(cfg: TrainConfig, params, lr: float):
    if cfg.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise ValueError("--use_8bit_adam needs bitsandbytes: pip install bitsandbytes "
                             "(or drop --use_8bit_adam)") from exc
        cls = bnb.optim.AdamW8bit
    else:
        cls = torch.optim.AdamW
    return cls(params, lr=lr, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=cfg.adam_weight_decay,
               eps=cfg.adam_epsilon)


# ------------------------------------------------------------------------------------ train


@dataclass
class TrainResult:
    """What a run did."""

    global_step: int
    losses: list[float] = field(default_factory=list)  # one per optimisation step of this run
    controlnet_dir: Path | None = None
    problems: list[DataProblem] = field(default_factory=list)
    resumed_from: Path | None = None
    skipped_steps: int = 0  # updates dropped for a non-finite gradient


def train(cfg: TrainConfig, *, estimator=None, should_stop: Callable[[], bool] | None = None,
          progress: bool = True) -> TrainResult:
    """Run (or resume) a training run and save ``<output_dir>/controlnet``."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers.optimization import get_scheduler
    from tqdm.auto import tqdm

    from ..generation.loading import load_controlnet
    from .clip_dataset import collate_clips, seed_worker

    cfg.validate()
    output_dir = Path(cfg.output_dir)
    report_to = None if cfg.report_to in (None, "", "none") else cfg.report_to
    if report_to == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError as exc:
                raise ValueError("--report_to tensorboard needs tensorboard: pip install tensorboard "
                                 "(or pass --report_to none)") from exc
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 and not (torch.distributed.is_available()
                                                              and torch.distributed.is_initialized()):
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)  # settings of an earlier run in this process
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        mixed_precision=cfg.mixed_precision,
        log_with=report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / cfg.logging_dir)),
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True

    set_seed(cfg.seed)  # the fresh ControlNet layers are initialised from the global RNG
    # Depth is estimated once, by the main process, before training; then every rank (and every
    # DataLoader worker) only reads the cache and the estimator is released.
    dataset = None
    if accelerator.is_main_process:
        dataset = build_dataset(cfg, estimator=estimator, log=lambda m: accelerator.print(m))
        precompute_depth(dataset, progress=progress)
    accelerator.wait_for_everyone()
    if dataset is None:
        dataset = build_dataset(replace(cfg, depth_model=None), log=lambda m: None)
    if isinstance(dataset.depth, DepthCache) and dataset.depth.estimator is not None:
        dataset.depth.estimator = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
    unet, vae, image_encoder, feature_extractor, controlnet = load_frozen_models(cfg, weight_dtype)
    for m in (unet, vae, image_encoder):
        m.requires_grad_(False)
        m.train(False)
        m.to(accelerator.device)
    controlnet.requires_grad_(True)
    controlnet.train()
    if cfg.gradient_checkpointing:
        controlnet.enable_gradient_checkpointing()
        unet.enable_gradient_checkpointing()

    # Checkpoints: the ControlNet as save_pretrained safetensors; accelerate keeps optimiser,
    # scheduler, scaler and RNG states next to it.
    def save_hook(models, weights, out):
        if accelerator.is_main_process:
            for m in models:
                accelerator.unwrap_model(m).save_pretrained(os.path.join(out, "controlnet"), safe_serialization=True)
        while weights:
            weights.pop()

    def load_hook(models, inp):
        while models:
            m = models.pop()
            loaded = load_controlnet(os.path.join(inp, "controlnet"))
            accelerator.unwrap_model(m).load_state_dict(loaded.state_dict(), strict=True)
            del loaded

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)

    lr = cfg.learning_rate
    if cfg.scale_lr:
        lr *= cfg.gradient_accumulation_steps * cfg.train_batch_size * accelerator.num_processes
    optimizer = _make_optimizer(cfg, [p for p in controlnet.parameters() if p.requires_grad], lr)
    sampler = EpochSampler(len(dataset), cfg.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.train_batch_size, sampler=sampler, collate_fn=collate_clips,
        num_workers=cfg.dataloader_num_workers, worker_init_fn=seed_worker, drop_last=False,
        pin_memory=torch.cuda.is_available(),
    )
    lr_scheduler = get_scheduler(cfg.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=cfg.lr_warmup_steps * accelerator.num_processes,
                                 num_training_steps=cfg.max_train_steps * accelerator.num_processes)
    controlnet, optimizer, loader, lr_scheduler = accelerator.prepare(controlnet, optimizer, loader, lr_scheduler)

    steps_per_epoch = max(1, math.ceil(len(loader) / cfg.gradient_accumulation_steps))
    global_step = 0
    resumed = resolve_resume(cfg)
    if cfg.resume_from_checkpoint and resumed is None:
        accelerator.print(f"no checkpoint in {output_dir}; starting a new run")
    if resumed is not None:
        accelerator.print(f"resuming from {resumed}")
        accelerator.load_state(str(resumed))
        global_step = int(resumed.name[len(CHECKPOINT_PREFIX):])
    first_epoch = global_step // steps_per_epoch
    skip_batches = (global_step % steps_per_epoch) * cfg.gradient_accumulation_steps

    if accelerator.is_main_process and report_to:
        tracker_cfg = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in asdict(cfg).items()}
        accelerator.init_trackers("levitor-controlnet", config=tracker_cfg)

    sigma_sampler = SigmaSampler(cfg.sigma_distribution, loc=cfg.sigma_loc, scale=cfg.sigma_scale)
    total_batch = cfg.train_batch_size * accelerator.num_processes * cfg.gradient_accumulation_steps
    accelerator.print(f"{len(dataset)} videos, {steps_per_epoch} steps per epoch, total batch {total_batch}, "
                      f"{cfg.max_train_steps} steps, lr {lr:g}, mixed precision {accelerator.mixed_precision}")

    validator = None
    if accelerator.is_main_process and cfg.validation_steps <= cfg.max_train_steps:
        from .validation import Validator

        validator = Validator(cfg, unet=unet, vae=vae, image_encoder=image_encoder,
                              feature_extractor=feature_extractor, log=accelerator.print)

    result = TrainResult(global_step=global_step, resumed_from=resumed)
    bar = tqdm(range(cfg.max_train_steps), initial=global_step, desc="steps",
               disable=not (progress and accelerator.is_local_main_process))
    epoch = first_epoch
    accum_loss = 0.0
    stop = global_step >= cfg.max_train_steps
    try:
        while not stop:
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)  # accelerate's loader: sampler, dataset and its own epoch counter
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            epoch_loader = loader
            if epoch == first_epoch and skip_batches:
                epoch_loader = accelerator.skip_first_batches(loader, skip_batches)
            micro = 0
            for batch in epoch_loader:
                with accelerator.accumulate(controlnet):
                    gen = torch.Generator().manual_seed(
                        int(np.random.SeedSequence([cfg.seed, global_step, micro, accelerator.process_index])
                            .generate_state(1)[0]))
                    micro += 1
                    loss = compute_loss(cfg, batch, gen, controlnet=controlnet, unet=unet, vae=vae,
                                        image_encoder=image_encoder, feature_extractor=feature_extractor,
                                        sigma_sampler=sigma_sampler, device=accelerator.device, weight_dtype=weight_dtype)
                    accum_loss += accelerator.gather(loss.detach()[None]).mean().item() / cfg.gradient_accumulation_steps
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        norm = accelerator.clip_grad_norm_(controlnet.parameters(),
                                                           cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf)
                        # fp16 runs leave overflow to the GradScaler; otherwise a non-finite gradient
                        # would poison the weights: drop this update (identical on every rank).
                        if accelerator.mixed_precision != "fp16" and not torch.isfinite(torch.as_tensor(norm)):
                            optimizer.zero_grad(set_to_none=True)
                            result.skipped_steps += 1
                            logger.warning("non-finite gradient at step %d: update skipped", global_step + 1)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                if not accelerator.sync_gradients:
                    continue
                global_step += 1
                micro = 0
                bar.update(1)
                result.losses.append(accum_loss)
                logs = {"loss": accum_loss, "lr": lr_scheduler.get_last_lr()[0], "skipped_steps": result.skipped_steps}
                bar.set_postfix(loss=f"{accum_loss:.4f}")
                accelerator.log(logs, step=global_step)
                accum_loss = 0.0
                stop = global_step >= cfg.max_train_steps or (should_stop is not None and should_stop())
                if stop or global_step % cfg.checkpointing_steps == 0:
                    _save_checkpoint(cfg, accelerator, global_step)  # a stopped run can always resume
                if validator is not None and accelerator.is_main_process and global_step % cfg.validation_steps == 0:
                    validator.run(accelerator.unwrap_model(controlnet), global_step, accelerator)
                if stop:
                    break
            epoch += 1
    except KeyboardInterrupt:
        bar.close()
        if accelerator.num_processes == 1 and global_step > 0:
            path = _save_checkpoint(cfg, accelerator, global_step)
            accelerator.print(f"interrupted at step {global_step}; saved {path} (resume with "
                              f"--resume_from_checkpoint latest)")
        accelerator.end_training()
        _reset_accelerate(accelerator)
        raise
    bar.close()

    accelerator.wait_for_everyone()
    result.global_step = global_step
    result.problems = list(dataset.problems)
    if accelerator.is_main_process:
        final = output_dir / "controlnet"
        tmp = output_dir / ".controlnet.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        accelerator.unwrap_model(controlnet).save_pretrained(tmp, safe_serialization=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        result.controlnet_dir = final
    accelerator.end_training()
    _reset_accelerate(accelerator)
    return result


def _reset_accelerate(accelerator) -> None:
    """Forget accelerate's process-wide state after a single-process run, so that ``train`` can run
    again in the same process with other settings (e.g. another mixed precision)."""
    if accelerator.num_processes == 1:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)


def _save_checkpoint(cfg: TrainConfig, accelerator, step: int) -> Path:
    """Write ``checkpoint-<step>`` atomically: into a hidden folder first, renamed when complete, so
    an interrupted save never leaves a checkpoint that ``latest`` would pick up."""
    out = Path(cfg.output_dir)
    final = out / f"{CHECKPOINT_PREFIX}{step}"
    partial = out / f".{CHECKPOINT_PREFIX}{step}.partial"
    if accelerator.is_main_process:
        if partial.exists():
            shutil.rmtree(partial)
        if cfg.checkpoints_total_limit is not None:
            existing = [p for s, p in _checkpoint_steps(out) if s != step]
            for p in existing[: max(0, len(existing) - (cfg.checkpoints_total_limit - 1))]:
                shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    accelerator.wait_for_everyone()
    return final


def compute_loss(cfg: TrainConfig, batch: dict, generator: torch.Generator, *, controlnet, unet, vae,
                 image_encoder, feature_extractor, sigma_sampler: SigmaSampler | None = None,
                 device: torch.device | str | None = None, weight_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The training loss of one batch ``{"frames", "control"}`` (B,F,3,H,W); every random draw
    (VAE sample, noise augmentation, dropout, sigma, noise) comes from ``generator`` (CPU)."""
    from ..generation.conditioning import encode_clip_image, encode_first_frame_latents, encode_video_latents

    device = device if device is not None else next(unet.parameters()).device
    sigma_sampler = sigma_sampler or SigmaSampler(cfg.sigma_distribution, loc=cfg.sigma_loc, scale=cfg.sigma_scale)
    pixel_values, control = batch_to_model_inputs(batch, device)
    b, f = pixel_values.shape[:2]
    latents = encode_video_latents(vae, pixel_values, generator=generator, chunk_size=cfg.vae_encode_chunk_size).float()
    first = pixel_values[:, 0]
    image_latents = encode_first_frame_latents(vae, first, cfg.noise_aug_strength, generator=generator).float()
    clip_emb = encode_clip_image(image_encoder, feature_extractor, first).float()
    keep_emb, keep_lat, keep_ctrl = dropout_masks(b, cfg.conditioning_dropout_prob, cfg.control_dropout_prob,
                                                  generator=generator, device=device)
    clip_emb = clip_emb * keep_emb.view(b, 1, 1)
    image_latents = image_latents * keep_lat.view(b, 1, 1, 1)
    control = control * keep_ctrl.view(b, 1, 1, 1, 1)
    image_latents = image_latents.unsqueeze(1).repeat(1, f, 1, 1, 1)

    sigma = sigma_sampler(b, generator=generator, device=device)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    noised = add_noise(latents, noise, sigma)
    model_in = torch.cat([noised.model_input, image_latents], dim=2)
    time_ids = added_time_ids(cfg.fps, cfg.motion_bucket_id, cfg.noise_aug_strength, b, device=device)
    down, mid = controlnet(model_in, noised.timestep, clip_emb, time_ids, control, return_dict=False)
    v = unet(model_in.to(weight_dtype), noised.timestep, clip_emb.to(weight_dtype), time_ids.to(weight_dtype),
             down_block_additional_residuals=[d.to(weight_dtype) for d in down],
             mid_block_additional_residual=mid.to(weight_dtype), return_dict=False)[0]
    return diffusion_loss(v, latents, noise, sigma, cfg.loss_weighting)


@torch.no_grad()
def evaluate_loss(cfg: TrainConfig, batch: dict, seeds: list[int], **models) -> float:
    """Mean :func:`compute_loss` over fixed ``seeds`` without dropout (a deterministic measure of fit)."""
    cfg = replace(cfg, conditioning_dropout_prob=0.0, control_dropout_prob=0.0)
    losses = [compute_loss(cfg, batch, torch.Generator().manual_seed(s), **models).item() for s in seeds]
    return float(np.mean(losses))


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a dict, refusing unknown keys."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return TrainConfig(**values)
