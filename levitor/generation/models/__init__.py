"""Neural network modules of the generator: the SVD ControlNet (:mod:`.controlnet_svd`), the
control-aware SVD UNet (:mod:`.unet_svd`) and the switchable temporal-context blocks
(:mod:`.temporal_context`). Importing them imports diffusers; the rest of :mod:`levitor` does not
need it."""
