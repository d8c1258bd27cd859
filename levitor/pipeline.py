"""Compatibility path: the pipeline lives in :mod:`levitor.generation.pipeline`."""

from .generation.pipeline import LeviTorPipeline, LeviTorPipelineOutput, guidance_scales

__all__ = ["LeviTorPipeline", "LeviTorPipelineOutput", "guidance_scales"]
