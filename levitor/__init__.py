"""LeviTor: 3D trajectory control of objects in image-to-video generation.

The core library. It never imports ComfyUI; heavy modules (diffusers, transformers,
segment-anything) are imported only by the submodules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
