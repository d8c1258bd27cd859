"""Training of the LeviTor ControlNet (``train/train.py`` is the command line).

* :mod:`.rle` -- COCO run-length encoding of SA-V masklets;
* :mod:`.datasets` -- DAVIS- and SA-V-style datasets: scanning, reading, problem reports;
* :mod:`.clips` -- depth sources and cache, crop/resize, control maps of a clip;
* :mod:`.clip_dataset` -- the PyTorch dataset with deterministic sampling and bad-data handling;
* :mod:`.loss` -- EDM v-prediction objective, noise-level sampling, conditioning dropout (the image
  conditioning itself is :mod:`levitor.generation.conditioning`, shared with sampling);
* :mod:`.launch` -- the launch check (every process the launcher started joined the run);
* :mod:`.checkpoints` -- checkpoint folders written by the main process, resume;
* :mod:`.trainer` -- setup, the training step and loop, previews;
* :mod:`.validation` -- validation videos of a fixed scene;
* :mod:`.synthetic` -- synthetic VOS datasets for tests, benchmarks and dry runs.

Importing this package imports nothing heavy; the submodules import torch / diffusers.
"""
