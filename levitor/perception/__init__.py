"""Perception models that turn an image into a scene: Depth-Anything-V2 depth (``depth``) and
SAM object masks (``segmentation``). Their heavy packages load when a model is built."""
