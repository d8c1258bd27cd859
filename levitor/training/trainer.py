"""Training loop of the LeviTor ControlNet (used by ``train/train.py``).

Only the ControlNet learns; it starts as a copy of the SVD UNet's encoder
(:meth:`ControlNetSVDModel.from_unet`) or from an existing ControlNet folder. UNet, VAE and CLIP
image encoder are frozen. Distribution, mixed precision and gradient accumulation come from
Hugging Face accelerate, so ``accelerate launch`` and ``torchrun`` run it on one or many GPUs (or
several CPU processes); :mod:`.launch` refuses a launch whose processes accelerate did not join and
:mod:`.checkpoints` keeps every checkpoint's file-system work on the main process.

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from ..generation.conditioning import encode_clip_image, encode_first_frame_latents, encode_video_latents
from ..generation.loading import default_device, load_controlnet, load_svd_components, training_precision
from ..generation.models.controlnet_svd import ControlNetSVDModel
from ..generation.options import TemporalContext
from ..io.media import write_frames, write_video
from ..perception.depth import DepthEstimator
from .checkpoints import (
    checkpoint_step,
    register_hooks,
    remove_leftovers,
    save_checkpoint,
    save_controlnet,
    shared_resume,
)
from .clip_dataset import VOSClipDataset, collate_clips, seed_worker
from .clips import ClipOptions, DepthCache, DepthFolder, batch_to_model_inputs, clip_preview
from .datasets import BadDataError, DataProblem, load_clip, scan_dataset
from .launch import check_launch, describe_launch
from .loss import SigmaSampler, add_noise, added_time_ids, diffusion_loss, dropout_masks
from .validation import Validator

logger = logging.getLogger(__name__)

@dataclass
class TrainConfig:
    """Every setting of a training run (the command-line flags of ``train/train.py``)."""

    pretrained_model_name_or_path: str = ""  # SVD-xt: diffusers folder or svd_xt.safetensors
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
            raise ValueError("--pretrained_model_name_or_path is required: the SVD-xt diffusers folder or "
                             "svd_xt.safetensors")
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
    """The project's Depth-Anything-V2 wrapper (``levitor.perception.depth.DepthEstimator``) on
    ``device`` (default: the first of CUDA, MPS, CPU that is available)."""
    return DepthEstimator.from_pretrained(path, device=default_device() if device is None else device)


def build_dataset(cfg: TrainConfig, *, estimator=None, log: Callable[[str], None] = logger.warning):
    """Scan the dataset, report its problems and build the clip dataset."""
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



def load_frozen_models(cfg: TrainConfig, dtype: torch.dtype = torch.float32):
    """UNet, VAE, CLIP image encoder, feature extractor and the trainable ControlNet.

    The frozen UNet and image encoder are loaded in ``dtype`` (the mixed-precision dtype), the VAE
    in fp32 (its encoder is unstable in half precision), the ControlNet always in fp32
    (master weights); all through the library's loaders."""
    parts = load_svd_components(cfg.pretrained_model_name_or_path, training_precision(dtype))
    unet, vae, image_encoder = parts["unet"], parts["vae"], parts["image_encoder"]
    feature_extractor = parts["feature_extractor"]
    if cfg.controlnet_model_name_or_path:
        controlnet = load_controlnet(cfg.controlnet_model_name_or_path, dtype=torch.float32, unet_config=unet.config)
    else:
        controlnet = ControlNetSVDModel.from_unet(
            unet, conditioning_channels=3,
            conditioning_embedding_out_channels=tuple(cfg.conditioning_embedding_out_channels))
    if controlnet.dtype != torch.float32:
        controlnet = controlnet.to(torch.float32)
    return unet, vae, image_encoder, feature_extractor, controlnet


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
    losses: list[float] = field(default_factory=list)  # one per optimisation step of this run (all processes)
    controlnet_dir: Path | None = None  # the main process's saved ControlNet (None on the others)
    problems: list[DataProblem] = field(default_factory=list)
    resumed_from: Path | None = None
    skipped_steps: int = 0  # updates dropped for a non-finite gradient


@dataclass
class StepReport:
    """One optimiser step as one process saw it (passed to ``train(on_step=...)``)."""

    step: int  # global step after this update
    loss: float  # mean over all processes and micro-batches
    local_loss: float  # mean over this process's micro-batches
    samples: list[tuple[int, int]]  # (video index, first annotated frame) of every clip this process used
    process_index: int
    num_processes: int
    controlnet: Any  # the unwrapped ControlNet after the update


@dataclass
class TrainingRun:
    """Everything a run holds between its steps (built by :func:`setup_training`)."""

    cfg: TrainConfig
    accelerator: Any
    dataset: VOSClipDataset
    sampler: EpochSampler
    loader: Any
    controlnet: Any  # prepared (possibly DDP-wrapped) ControlNet
    frozen: dict  # unet, vae, image_encoder, feature_extractor
    optimizer: Any
    lr_scheduler: Any
    sigma_sampler: SigmaSampler
    weight_dtype: torch.dtype
    steps_per_epoch: int
    global_step: int = 0
    resumed_from: Path | None = None
    validator: Validator | None = None

    @property
    def output_dir(self) -> Path:
        return Path(self.cfg.output_dir)


def _tracker(cfg: TrainConfig) -> str | None:
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
    return report_to


def _backend() -> str:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return str(torch.distributed.get_backend())
    return "none"


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    """The run's accelerator, after checking that it joined every process the launcher started.

    accelerate keeps its settings once per process: a later run in the same process must use the
    same mixed precision (or run in a new process)."""
    output_dir = Path(cfg.output_dir)
    report_to = _tracker(cfg)
    try:
        accelerator = Accelerator(
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            mixed_precision=cfg.mixed_precision,
            log_with=report_to,
            project_config=ProjectConfiguration(project_dir=str(output_dir),
                                                logging_dir=str(output_dir / cfg.logging_dir)),
        )
    except ValueError as exc:
        raise ValueError(f"accelerate could not start this run ({exc}); accelerate fixes --mixed_precision once "
                         "per process, so start a run with other settings in a new process") from exc
    check_launch(accelerator.num_processes, gpus_visible=torch.cuda.is_available())
    accelerator.print(describe_launch(accelerator.num_processes, cfg.train_batch_size,
                                      cfg.gradient_accumulation_steps, _backend(), accelerator.device.type))
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(accelerator, output_dir)
    return accelerator


def prepare_dataset(cfg: TrainConfig, accelerator, *, estimator=None, progress: bool = True) -> VOSClipDataset:
    """The clip dataset on every process. Depth is estimated once, by the main process, before
    training; then every process (and every DataLoader worker) only reads the cache."""
    dataset = None
    if accelerator.is_main_process:
        dataset = build_dataset(cfg, estimator=estimator, log=accelerator.print)
        precompute_depth(dataset, progress=progress)
    accelerator.wait_for_everyone()
    if dataset is None:
        dataset = build_dataset(replace(cfg, depth_model=None), log=lambda m: None)
    if isinstance(dataset.depth, DepthCache) and dataset.depth.estimator is not None:
        dataset.depth.estimator = None  # release the depth model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return dataset


def prepare_models(cfg: TrainConfig, accelerator) -> tuple[dict, Any, torch.dtype]:
    """Frozen modules on the device (``unet``, ``vae``, ``image_encoder``, ``feature_extractor``),
    the trainable ControlNet and the dtype of the frozen weights."""
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
    set_seed(cfg.seed)  # the fresh ControlNet layers are initialised from the global RNG
    unet, vae, image_encoder, feature_extractor, controlnet = load_frozen_models(cfg, weight_dtype)
    for m in (unet, vae, image_encoder):
        m.requires_grad_(False)
        m.train(False)
        m.to(accelerator.device)
    # Training attends per sample (each clip to its own first frame), as SVD was trained; the
    # reference order of the original's diffusers release is an inference-time parity option.
    for m in (unet, controlnet):
        m.set_temporal_context(TemporalContext.PER_SAMPLE)
    controlnet.requires_grad_(True)
    controlnet.train()
    if cfg.gradient_checkpointing:
        controlnet.enable_gradient_checkpointing()
        unet.enable_gradient_checkpointing()
    frozen = dict(unet=unet, vae=vae, image_encoder=image_encoder, feature_extractor=feature_extractor)
    return frozen, controlnet, weight_dtype


def setup_training(cfg: TrainConfig, *, estimator=None, progress: bool = True) -> TrainingRun:
    """Check the settings and the launch, build data, models, optimiser and schedule, and resume
    from ``--resume_from_checkpoint`` when given."""
    cfg.validate()
    accelerator = make_accelerator(cfg)
    dataset = prepare_dataset(cfg, accelerator, estimator=estimator, progress=progress)
    frozen, controlnet, weight_dtype = prepare_models(cfg, accelerator)
    register_hooks(accelerator)
    if cfg.allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True

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
    # accelerate steps a prepared scheduler once per process and update
    lr_scheduler = get_scheduler(cfg.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=cfg.lr_warmup_steps * accelerator.num_processes,
                                 num_training_steps=cfg.max_train_steps * accelerator.num_processes)
    controlnet, optimizer, loader, lr_scheduler = accelerator.prepare(controlnet, optimizer, loader, lr_scheduler)
    run = TrainingRun(cfg, accelerator, dataset, sampler, loader, controlnet, frozen, optimizer, lr_scheduler,
                      SigmaSampler(cfg.sigma_distribution, loc=cfg.sigma_loc, scale=cfg.sigma_scale), weight_dtype,
                      steps_per_epoch=max(1, math.ceil(len(loader) / cfg.gradient_accumulation_steps)))

    run.resumed_from = shared_resume(accelerator, run.output_dir, cfg.resume_from_checkpoint)
    if cfg.resume_from_checkpoint and run.resumed_from is None:
        accelerator.print(f"no checkpoint in {run.output_dir}; starting a new run")
    if run.resumed_from is not None:
        accelerator.print(f"resuming from {run.resumed_from}")
        accelerator.load_state(str(run.resumed_from))
        run.global_step = checkpoint_step(run.resumed_from)

    if accelerator.is_main_process and accelerator.log_with:
        tracker_cfg = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in asdict(cfg).items()}
        accelerator.init_trackers("levitor-controlnet", config=tracker_cfg)
    if accelerator.is_main_process and cfg.validation_steps <= cfg.max_train_steps:
        run.validator = Validator(cfg, log=accelerator.print, **frozen)
    accelerator.print(f"{len(dataset)} videos, {run.steps_per_epoch} steps per epoch, {cfg.max_train_steps} steps, "
                      f"lr {lr:g}, mixed precision {accelerator.mixed_precision}")
    return run


def step_generator(seed: int, step: int, micro: int, process_index: int) -> torch.Generator:
    """The generator of every random draw of one micro-batch (the same after a resume)."""
    state = np.random.SeedSequence([seed, step, micro, process_index]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def train_micro_step(run: TrainingRun, batch: dict, micro: int) -> tuple[torch.Tensor, bool]:
    """Forward and backward of one micro-batch; on the last one of an optimiser step, clip and
    apply the update. Returns this process's loss and whether the update was dropped because the
    gradient was not finite."""
    cfg, accelerator = run.cfg, run.accelerator
    skipped = False
    with accelerator.accumulate(run.controlnet):
        gen = step_generator(cfg.seed, run.global_step, micro, accelerator.process_index)
        loss = compute_loss(cfg, batch, gen, controlnet=run.controlnet, sigma_sampler=run.sigma_sampler,
                            device=accelerator.device, weight_dtype=run.weight_dtype, **run.frozen)
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            norm = accelerator.clip_grad_norm_(run.controlnet.parameters(),
                                               cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf)
            # fp16 runs leave overflow to the GradScaler; otherwise a non-finite gradient would poison
            # the weights: drop this update (the norm is that of the reduced gradient, the same everywhere).
            if accelerator.mixed_precision != "fp16" and not torch.isfinite(torch.as_tensor(norm)):
                run.optimizer.zero_grad(set_to_none=True)
                skipped = True
        run.optimizer.step()
        run.lr_scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
    return loss.detach(), skipped


def _epoch_batches(run: TrainingRun, epoch: int, skip: int):
    if hasattr(run.loader, "set_epoch"):
        run.loader.set_epoch(epoch)  # accelerate's loader: sampler, dataset and its own epoch counter
    run.sampler.set_epoch(epoch)
    run.dataset.set_epoch(epoch)
    return run.accelerator.skip_first_batches(run.loader, skip) if skip else run.loader


def _after_step(run: TrainingRun, report: StepReport, stop: bool) -> None:
    """Checkpoint and validation after an optimiser step."""
    cfg = run.cfg
    if stop or run.global_step % cfg.checkpointing_steps == 0:  # a stopped run can always resume
        save_checkpoint(run.accelerator, run.output_dir, run.global_step, cfg.checkpoints_total_limit)
    if run.validator is not None and run.global_step % cfg.validation_steps == 0:
        run.validator.run(report.controlnet, run.global_step, run.accelerator)


def run_training(run: TrainingRun, result: TrainResult, *, should_stop: Callable[[], bool] | None = None,
                 on_step: Callable[[StepReport], None] | None = None, progress: bool = True) -> None:
    """Train from ``run.global_step`` to ``--max_train_steps`` (or until ``should_stop`` on any process)."""
    cfg, accelerator = run.cfg, run.accelerator
    first_epoch = run.global_step // run.steps_per_epoch
    skip = (run.global_step % run.steps_per_epoch) * cfg.gradient_accumulation_steps
    bar = tqdm(range(cfg.max_train_steps), initial=run.global_step, desc="steps",
               disable=not (progress and accelerator.is_local_main_process))
    epoch = first_epoch
    try:
        while run.global_step < cfg.max_train_steps:
            losses, samples = [], []
            for batch in _epoch_batches(run, epoch, skip if epoch == first_epoch else 0):
                loss, skipped = train_micro_step(run, batch, micro=len(losses))
                losses.append(loss)
                samples += list(zip(batch["video"].tolist(), batch["start"].tolist()))
                if not accelerator.sync_gradients:
                    continue
                run.global_step += 1
                result.skipped_steps += skipped
                if skipped:
                    logger.warning("non-finite gradient at step %d: update skipped", run.global_step)
                local = torch.stack(losses).float()
                report = StepReport(run.global_step, accelerator.gather(local.mean()[None]).mean().item(),
                                    local.mean().item(), samples, accelerator.process_index,
                                    accelerator.num_processes, accelerator.unwrap_model(run.controlnet))
                losses, samples = [], []
                result.losses.append(report.loss)
                bar.update(1)
                bar.set_postfix(loss=f"{report.loss:.4f}")
                accelerator.log({"loss": report.loss, "lr": run.lr_scheduler.get_last_lr()[0],
                                 "skipped_steps": result.skipped_steps}, step=run.global_step)
                if should_stop is not None and should_stop():
                    accelerator.set_trigger()
                stop = run.global_step >= cfg.max_train_steps or (should_stop is not None
                                                                  and accelerator.check_trigger())
                _after_step(run, report, stop)
                if on_step is not None:
                    on_step(report)
                if stop:
                    return
            epoch += 1
    finally:
        bar.close()


def train(cfg: TrainConfig, *, estimator=None, should_stop: Callable[[], bool] | None = None,
          on_step: Callable[[StepReport], None] | None = None, progress: bool = True) -> TrainResult:
    """Run (or resume) a training run and save ``<output_dir>/controlnet``.

    ``should_stop`` is asked after every step (a stopped run saves a checkpoint); ``on_step``
    gets a :class:`StepReport` after every step, on every process."""
    run = setup_training(cfg, estimator=estimator, progress=progress)
    accelerator = run.accelerator
    result = TrainResult(global_step=run.global_step, resumed_from=run.resumed_from)
    try:
        run_training(run, result, should_stop=should_stop, on_step=on_step, progress=progress)
    except KeyboardInterrupt:
        if accelerator.num_processes == 1 and run.global_step > 0:
            path = save_checkpoint(accelerator, run.output_dir, run.global_step, cfg.checkpoints_total_limit)
            accelerator.print(f"interrupted at step {run.global_step}; saved {path} (resume with "
                              f"--resume_from_checkpoint latest)")
        accelerator.end_training()
        raise
    result.global_step = run.global_step
    result.problems = list(run.dataset.problems)
    result.controlnet_dir = save_controlnet(accelerator, run.controlnet, run.output_dir)
    accelerator.end_training()
    return result


def compute_loss(cfg: TrainConfig, batch: dict, generator: torch.Generator, *, controlnet, unet, vae,
                 image_encoder, feature_extractor, sigma_sampler: SigmaSampler | None = None,
                 device: torch.device | str | None = None, weight_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The training loss of one batch ``{"frames", "control"}`` (B,F,3,H,W); every random draw
    (VAE sample, noise augmentation, dropout, sigma, noise) comes from ``generator`` (CPU)."""
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

