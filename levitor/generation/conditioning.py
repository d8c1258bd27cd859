"""The image conditioning of SVD, shared by sampling and training.

Both :class:`levitor.generation.pipeline.LeviTorPipeline` and the trainer call these functions,
so a ControlNet is trained on exactly the conditioning it is sampled with:

* :func:`encode_clip_image`: the original pipeline's CLIP input: the image in [-1, 1] is blurred
  with a Gaussian of σ = max((size / 224 - 1) / 2, 0.001) per axis (odd kernel of at least 3
  taps spanning 4σ, reflect padding), resized bicubically (``align_corners=True``) to the CLIP
  input size (224 for SVD-xt), mapped back to [0, 1] and normalised with the feature extractor's
  mean and standard deviation;
* :func:`encode_first_frame_latents`: Gaussian noise of ``noise_aug_strength`` added to the image
  in pixel space (one fp32 draw from the given generator), then the VAE *mode*, unscaled; a half
  precision VAE with ``force_upcast`` encodes in fp32;
* :func:`encode_video_latents`: training targets, VAE *samples* scaled by ``scaling_factor``;
* :func:`added_time_ids`: the micro-conditioning ``[fps - 1, motion_bucket_id, noise_aug_strength]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

#: CLIP's normalisation, used when no feature extractor is given (SVD-xt's has the same values).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: The CLIP input size when neither the feature extractor nor the encoder config says otherwise.
CLIP_SIZE = 224


def clip_input_size(image_encoder, feature_extractor=None) -> tuple[int, int]:
    """``(height, width)`` the CLIP image encoder takes: the feature extractor's crop size, else
    the encoder's ``image_size``."""
    crop = getattr(feature_extractor, "crop_size", None) if feature_extractor is not None else None
    if isinstance(crop, dict) and "height" in crop:
        return int(crop["height"]), int(crop["width"])
    if isinstance(crop, int):
        return crop, crop
    size = int(getattr(getattr(image_encoder, "config", None), "image_size", CLIP_SIZE))
    return size, size


def _gaussian_taps(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    size = int(max(4.0 * sigma, 3))
    size += 1 - size % 2  # odd
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    sigma_t = torch.tensor(sigma, dtype=dtype, device=device)
    taps = torch.exp(-x.pow(2.0) / (2 * sigma_t.pow(2.0)))
    return taps / taps.sum()


def _blur_axis(x: torch.Tensor, taps: torch.Tensor, axis: int) -> torch.Tensor:
    """Depthwise convolution of ``x`` (N, C, H, W) with 1-D ``taps`` along ``axis`` (2 = H, 3 = W)."""
    channels, half = x.shape[1], taps.numel() // 2
    if axis == 3:
        kernel, pad = taps.view(1, 1, 1, -1), (half, half, 0, 0)
    else:
        kernel, pad = taps.view(1, 1, -1, 1), (0, 0, half, half)
    x = F.pad(x, pad, mode="reflect")
    return F.conv2d(x, kernel.expand(channels, 1, *kernel.shape[2:]), groups=channels)


def resize_for_clip(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased resize of ``images`` (N, C, H, W) to ``size``: Gaussian blur, then bicubic."""
    h, w = images.shape[-2:]
    sigma_h = max((h / size[0] - 1.0) / 2.0, 0.001)
    sigma_w = max((w / size[1] - 1.0) / 2.0, 0.001)
    x = _blur_axis(images, _gaussian_taps(sigma_w, images.dtype, images.device), axis=3)
    x = _blur_axis(x, _gaussian_taps(sigma_h, images.dtype, images.device), axis=2)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=True)


def clip_pixels(images: torch.Tensor, image_encoder, feature_extractor=None) -> torch.Tensor:
    """The CLIP encoder's input (N, 3, S, S) float32 for ``images`` (N, 3, H, W) in [-1, 1]."""
    x = resize_for_clip(images.float(), clip_input_size(image_encoder, feature_extractor))
    x = (x + 1.0) / 2.0
    mean = getattr(feature_extractor, "image_mean", None) or CLIP_MEAN
    std = getattr(feature_extractor, "image_std", None) or CLIP_STD
    mean_t = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


@torch.no_grad()
def encode_clip_image(image_encoder, feature_extractor, images: torch.Tensor, *,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """CLIP image embeddings ``(N, 1, D)`` of ``images`` ``(N, 3, H, W)`` in [-1, 1].

    The preprocessing runs where ``images`` are; the encoder on ``device`` (default: the images'
    device) in its own dtype.
    """
    pixels = clip_pixels(images, image_encoder, feature_extractor)
    dtype = next(image_encoder.parameters()).dtype
    pixels = pixels.to(device=device if device is not None else images.device, dtype=dtype)
    return image_encoder(pixel_values=pixels).image_embeds.unsqueeze(1)


def draw_noise(shape, generator: torch.Generator | None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (the CPU without a generator)."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)


@contextlib.contextmanager
def vae_encoding_dtype(vae, upcast: bool = True) -> Iterator[torch.dtype]:
    """Hold a half-precision VAE with ``force_upcast`` in fp32 while it encodes (``upcast``)."""
    held = vae.dtype
    lift = upcast and held in (torch.float16, torch.bfloat16) and bool(getattr(vae.config, "force_upcast", False))
    if lift:
        vae.to(dtype=torch.float32)
    try:
        yield vae.dtype
    finally:
        if lift:
            vae.to(dtype=held)


def vae_encode(vae, pixels: torch.Tensor, *, sample: bool, generator: torch.Generator | None = None,
               chunk_size: int | None = None, device: torch.device | str | None = None,
               upcast: bool = True) -> torch.Tensor:
    """VAE latents (unscaled) of ``pixels`` (N, 3, H, W) in [-1, 1], ``chunk_size`` images per call.

    ``sample=False``: the distribution's mode. ``sample=True``: ``mean + std * noise`` with the
    noise drawn from ``generator`` in fp32, one draw per chunk.
    """
    device = device if device is not None else pixels.device
    step = max(1, chunk_size or pixels.shape[0])
    outs = []
    with vae_encoding_dtype(vae, upcast) as dtype:
        for i in range(0, pixels.shape[0], step):
            dist = vae.encode(pixels[i:i + step].to(device=device, dtype=dtype)).latent_dist
            if sample:
                noise = draw_noise(dist.mean.shape, generator).to(device=dist.mean.device, dtype=dist.mean.dtype)
                outs.append(dist.mean + dist.std * noise)
            else:
                outs.append(dist.mode())
    return torch.cat(outs)


@torch.no_grad()
def encode_first_frame_latents(vae, first_frames: torch.Tensor, noise_aug_strength: float, *,
                               generator: torch.Generator | None = None, device: torch.device | str | None = None,
                               upcast: bool = True) -> torch.Tensor:
    """Unscaled VAE mode ``(N, 4, h, w)`` of the noise-augmented first frames ``(N, 3, H, W)`` in [-1, 1].

    The augmentation noise (fp32, the shape of ``first_frames``) is the generator's next draw.
    """
    noise = draw_noise(first_frames.shape, generator).to(first_frames.device)
    augmented = first_frames.float() + noise_aug_strength * noise
    return vae_encode(vae, augmented, sample=False, device=device, upcast=upcast)


@torch.no_grad()
def encode_video_latents(vae, pixel_values: torch.Tensor, *, generator: torch.Generator | None = None,
                         chunk_size: int = 8, upcast: bool = True) -> torch.Tensor:
    """Scaled VAE latent samples ``(B, F, 4, h, w)`` of ``pixel_values`` ``(B, F, 3, H, W)`` in [-1, 1]."""
    b, f = pixel_values.shape[:2]
    latents = vae_encode(vae, pixel_values.flatten(0, 1), sample=True, generator=generator,
                         chunk_size=chunk_size, upcast=upcast)
    latents = latents * vae.config.scaling_factor
    return latents.reshape(b, f, *latents.shape[1:])


def added_time_ids(fps: int, motion_bucket_id: int, noise_aug_strength: float, batch_size: int, *,
                   dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """SVD micro-conditioning ``[fps - 1, motion_bucket_id, noise_aug_strength]`` per video (fps 6 -> 5)."""
    ids = torch.tensor([[fps - 1, motion_bucket_id, noise_aug_strength]], dtype=dtype, device=device)
    return ids.repeat(batch_size, 1)
