"""The frozen encoders of training: VAE latents of the clip and of its first frame, CLIP embedding.

They reproduce what the sampling pipeline feeds the networks at inference: CLIP sees the clean
first frame (antialiased resize to the encoder's input size, CLIP normalisation); the image
latents are the VAE *mode* of the first frame with ``noise_aug_strength`` Gaussian noise added
in pixel space and **no** scaling factor; the video latents the model learns to denoise are
VAE samples scaled by the VAE's ``scaling_factor``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _clip_input_size(image_encoder, feature_extractor) -> tuple[int, int]:
    size = None
    if feature_extractor is not None:
        crop = getattr(feature_extractor, "crop_size", None)
        if isinstance(crop, dict) and "height" in crop:
            size = (int(crop["height"]), int(crop["width"]))
        elif isinstance(crop, int):
            size = (crop, crop)
    if size is None:
        s = int(getattr(image_encoder.config, "image_size", 224))
        size = (s, s)
    return size


@torch.no_grad()
def encode_clip_image(image_encoder, feature_extractor, images: torch.Tensor) -> torch.Tensor:
    """CLIP image embeddings ``(B, 1, D)`` of ``images`` ``(B, 3, H, W)`` in [-1, 1]."""
    size = _clip_input_size(image_encoder, feature_extractor)
    x = F.interpolate(images.float(), size=size, mode="bicubic", antialias=True, align_corners=False)
    x = ((x + 1.0) / 2.0).clamp(0.0, 1.0)
    mean = getattr(feature_extractor, "image_mean", None) or CLIP_MEAN
    std = getattr(feature_extractor, "image_std", None) or CLIP_STD
    mean_t = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    x = ((x - mean_t) / std_t).to(device=images.device, dtype=image_encoder.dtype)
    return image_encoder(pixel_values=x).image_embeds.unsqueeze(1)


@torch.no_grad()
def encode_video_latents(vae, pixel_values: torch.Tensor, *, generator: torch.Generator | None = None,
                         chunk_size: int = 8) -> torch.Tensor:
    """Scaled VAE latent samples ``(B, F, 4, h, w)`` of ``pixel_values`` ``(B, F, 3, H, W)`` in [-1, 1]."""
    b, f = pixel_values.shape[:2]
    flat = pixel_values.flatten(0, 1).to(vae.dtype)
    outs = []
    for i in range(0, flat.shape[0], max(1, chunk_size)):
        dist = vae.encode(flat[i:i + chunk_size]).latent_dist
        noise = torch.randn(dist.mean.shape, generator=generator, device=generator.device if generator else None,
                            dtype=torch.float32).to(device=dist.mean.device, dtype=dist.mean.dtype)
        outs.append(dist.mean + dist.std * noise)
    latents = torch.cat(outs) * vae.config.scaling_factor
    return latents.reshape(b, f, *latents.shape[1:])


@torch.no_grad()
def encode_first_frame_latents(vae, first_frames: torch.Tensor, noise_aug_strength: float, *,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """Unscaled VAE mode ``(B, 4, h, w)`` of the noise-augmented first frames ``(B, 3, H, W)``."""
    noise = torch.randn(first_frames.shape, generator=generator, device=generator.device if generator else None,
                        dtype=torch.float32).to(first_frames.device)
    cond = first_frames.float() + noise_aug_strength * noise
    return vae.encode(cond.to(vae.dtype)).latent_dist.mode()
