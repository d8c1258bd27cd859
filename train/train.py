"""Train the LeviTor ControlNet on video object segmentation data.

Single GPU::

    python train/train.py --pretrained_model_name_or_path PATH/stable-video-diffusion-img2vid-xt \\
        --data_root PATH/DAVIS --output_dir runs/levitor --mixed_precision fp16 --gradient_checkpointing

Several GPUs or nodes: the same flags under ``accelerate launch`` (or ``torchrun``); several CPU
processes: ``ACCELERATE_USE_CPU=1 torchrun --standalone --nproc_per_node 2 train/train.py ...``.
Inspect the training inputs without a model: ``--data_only --preview_dir previews/``.
See docs/training.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from levitor.training.trainer import TrainConfig, train, write_previews  # noqa: E402

HELP = {
    "pretrained_model_name_or_path": "diffusers Stable Video Diffusion (SVD-xt) folder: unet/, vae/, image_encoder/, ...",
    "data_root": "dataset folder (DAVIS layout: JPEGImages/ + Annotations/; SA-V layout: videos + *_manual.json)",
    "output_dir": "where checkpoints, logs, validation videos and the final controlnet/ go",
    "controlnet_model_name_or_path": "start from this ControlNet folder instead of a copy of the UNet encoder",
    "conditioning_embedding_out_channels": "channels of the control embedding (new ControlNets only)",
    "dataset_layout": "auto, davis or sav",
    "davis_resolution": "DAVIS resolution folder (e.g. 480p) when JPEGImages/ has one",
    "sav_annotation": "SA-V masklets to read: manual or auto",
    "max_videos": "use only the first N videos",
    "depth_dir": "folder of precomputed depth maps <video>/<frame>.png|npy (disparity or reference depth)",
    "depth_cache_dir": "where estimated depth is cached as 8-bit PNG (default DATA_ROOT/.levitor_depth)",
    "depth_model": "Depth-Anything-V2 model folder used to fill the depth cache",
    "width": "training width (frames are centre-cropped to the aspect, then resized)",
    "height": "training height",
    "num_frames": "frames per clip",
    "frame_interval": "take every n-th annotated frame",
    "ratio": "scales the number of control points per region (as the inference ratio)",
    "control_radius": "half-size of a control point's Gaussian patch in pixels",
    "use_id": "draw instance ids into the control maps",
    "use_depth": "draw depth codes into the control maps",
    "background_segment": "give unannotated pixels their own static label with control points",
    "min_area_frac": "drop instances never larger than this fraction of the frame",
    "fixed_start": "always take the clip starting at this annotated frame (overfitting checks)",
    "on_bad_data": "skip: report unreadable videos and train on; error: stop at the first one",
    "dataloader_num_workers": "DataLoader worker processes",
    "train_batch_size": "clips per GPU per step",
    "gradient_accumulation_steps": "micro-batches per optimiser step",
    "max_train_steps": "optimiser steps in total",
    "learning_rate": "AdamW learning rate",
    "scale_lr": "multiply the learning rate by the total batch size",
    "lr_scheduler": "diffusers scheduler name: constant, constant_with_warmup, linear, cosine, ...",
    "lr_warmup_steps": "warm-up steps of the scheduler",
    "adam_beta1": "AdamW beta1", "adam_beta2": "AdamW beta2",
    "adam_weight_decay": "AdamW weight decay", "adam_epsilon": "AdamW epsilon",
    "max_grad_norm": "gradient clipping norm (0 = off)",
    "use_8bit_adam": "8-bit AdamW from bitsandbytes",
    "mixed_precision": "no, fp16 or bf16 (default: the accelerate config)",
    "gradient_checkpointing": "recompute activations in the backward pass (less memory, ~30%% slower)",
    "allow_tf32": "TF32 matmuls on Ampere+ GPUs",
    "vae_encode_chunk_size": "frames per VAE encoder call",
    "sigma_distribution": "training noise levels: lognormal or cosine_interpolated",
    "sigma_loc": "lognormal: mean of ln(sigma)", "sigma_scale": "lognormal: std of ln(sigma)",
    "loss_weighting": "edm (default), v (same objective in v form) or x0 (unweighted)",
    "conditioning_dropout_prob": "probability of dropping the CLIP embedding, the image latents, and both (each)",
    "control_dropout_prob": "probability of dropping the control maps",
    "noise_aug_strength": "noise added to the conditioning frame (also a micro-condition)",
    "fps": "frame rate micro-condition (fps - 1 is fed, as at inference)",
    "motion_bucket_id": "motion bucket micro-condition",
    "seed": "seed of the clip sampling, noise and dropout",
    "checkpointing_steps": "save a resumable checkpoint every N steps",
    "checkpoints_total_limit": "keep at most N checkpoints",
    "resume_from_checkpoint": "checkpoint-<step> folder to resume from, or 'latest'",
    "validation_steps": "sample the validation video every N steps",
    "num_validation_inference_steps": "sampling steps of the validation video",
    "report_to": "tensorboard, wandb, all or none",
    "logging_dir": "tracker folder inside output_dir",
    "data_only": "only prepare clips and write previews (no model needed)",
    "preview_dir": "where --data_only writes its previews",
    "num_previews": "number of clips --data_only previews",
}


CHOICES = {
    "dataset_layout": ["auto", "davis", "sav"],
    "sav_annotation": ["manual", "auto"],
    "on_bad_data": ["skip", "error"],
    "mixed_precision": ["no", "fp16", "bf16"],
    "sigma_distribution": ["lognormal", "cosine_interpolated"],
    "loss_weighting": ["edm", "v", "x0"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the LeviTor ControlNet on video object segmentation data.")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        hint = hints[f.name]
        text = HELP.get(f.name, f.name)
        flag = f"--{f.name}"
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=text)
        elif f.name == "conditioning_embedding_out_channels":
            parser.add_argument(flag, type=int, nargs="+", default=list(f.default), help=text)
        else:
            base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
            parser.add_argument(flag, type=base, default=f.default, choices=CHOICES.get(f.name),
                                help=f"{text} (default: {f.default})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = TrainConfig(**vars(args))
    try:
        if cfg.data_only:
            cfg.validate()
            for p in write_previews(cfg):
                print(p)
            return 0
        result = train(cfg)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.controlnet_dir is not None:  # the main process of a distributed run
        print(f"trained to step {result.global_step}; ControlNet saved to {result.controlnet_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
