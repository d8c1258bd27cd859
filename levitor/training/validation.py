"""Validation videos during training: one fixed scene and tracks, sampled with the ControlNet in training.

The scene is the project's demo scene (:func:`levitor.assets.demo_scene.make_demo_scene`) at the training
resolution; its control maps come from :func:`levitor.planning.plan.build_plan`, the same planning stage the
nodes run, and the video from :class:`levitor.generation.pipeline.LeviTorPipeline` built from the frozen
training modules and the current ControlNet. Videos go to ``<output_dir>/validation/`` and to the
tracker (TensorBoard).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..assets.demo_scene import make_demo_scene
from ..generation.loading import load_scheduler
from ..generation.pipeline import LeviTorPipeline
from ..io.media import write_video
from ..planning.plan import build_plan

logger = logging.getLogger(__name__)


def validation_plan(width: int, height: int, num_frames: int):
    """The fixed validation scene planned at ``width x height`` for ``num_frames`` frames."""
    scene = make_demo_scene(width, height)
    return build_plan(scene.image, scene.depth, scene.object_masks, scene.static_masks, scene.tracks,
                      num_frames=num_frames)


class Validator:
    """Samples the validation video with the current ControlNet."""

    def __init__(self, cfg, *, unet, vae, image_encoder, feature_extractor,
                 log: Callable[[str], None] = logger.info):
        self.cfg = cfg
        self.parts = dict(unet=unet, vae=vae, image_encoder=image_encoder, feature_extractor=feature_extractor)
        self.log = log
        self.out_dir = Path(cfg.output_dir) / "validation"
        self._plan = None
        self._scheduler = None

    @property
    def plan(self):
        if self._plan is None:
            self._plan = validation_plan(self.cfg.width, self.cfg.height, self.cfg.num_frames)
        return self._plan

    def _pipeline(self, controlnet):
        if self._scheduler is None:
            self._scheduler = load_scheduler(self.cfg.pretrained_model_name_or_path)
        return LeviTorPipeline(controlnet=controlnet, scheduler=self._scheduler, **self.parts)

    def run(self, controlnet, step: int, accelerator=None) -> Path:
        """Sample, save ``validation/step-<step>.gif`` and log it. Returns the file."""
        pipe = self._pipeline(controlnet)
        pipe.set_progress_bar_config(disable=True)  # the training bar stays the only one
        was_training = controlnet.training
        controlnet.train(False)
        try:
            ctx = accelerator.autocast() if accelerator is not None else torch.autocast("cpu", enabled=False)
            with torch.no_grad(), ctx:
                out = pipe(self.plan.scene.image, self.plan.control,
                           num_inference_steps=self.cfg.num_validation_inference_steps, fps=self.cfg.fps,
                           motion_bucket_id=self.cfg.motion_bucket_id,
                           noise_aug_strength=self.cfg.noise_aug_strength, seed=self.cfg.seed, output_type="np")
        finally:
            controlnet.train(was_training)
        frames = np.asarray(out.frames[0])
        frames = np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = write_video(frames, self.out_dir / f"step-{step:07d}.gif", fps=self.cfg.fps)
        if accelerator is not None:
            _log_video(accelerator, frames, step, self.cfg.fps)
        return path


def _log_video(accelerator, frames: np.ndarray, step: int, fps: int) -> None:
    """Log ``frames`` (F,H,W,3) uint8 to TensorBoard as a video (a frame strip without moviepy)."""
    for tracker in accelerator.trackers:
        if tracker.name != "tensorboard":
            continue
        writer = tracker.writer
        video = torch.from_numpy(frames).permute(0, 3, 1, 2)[None]
        if importlib.util.find_spec("moviepy") is not None:  # TensorBoard encodes videos with moviepy
            writer.add_video("validation/video", video, step, fps=fps)
        else:  # a strip of frames instead
            writer.add_image("validation/frames", np.concatenate(list(frames), axis=1), step, dataformats="HWC")
        writer.flush()
