"""SVD's training objective: EDM preconditioning with v-prediction and continuous noise levels.

Stable Video Diffusion is an EDM model (Karras et al. 2022) with ``sigma_data = 1``, run by
diffusers' ``EulerDiscreteScheduler`` in ``v_prediction`` mode with continuous timesteps. For a
clean latent ``x0``, noise ``n ~ N(0, I)`` and a noise level ``sigma``:

* noisy latent ``x = x0 + sigma * n``; network input ``c_in * x`` with ``c_in = 1 / sqrt(sigma^2 + 1)``;
* timestep ``c_noise = 0.25 * ln(sigma)`` (what the scheduler passes at inference);
* denoised ``D = c_skip * x + c_out * F`` with ``c_skip = 1 / (sigma^2 + 1)``,
  ``c_out = -sigma / sqrt(sigma^2 + 1)`` (``F`` = network output, the "v");
* EDM loss weight ``lambda(sigma) = (sigma^2 + 1) / sigma^2``, loss ``lambda * |D - x0|^2``.

With this weighting ``lambda * c_out^2 = 1``, so the loss equals the plain MSE between ``F`` and
the v-target ``v = (x0 - c_skip * x) / c_out`` -- every noise level contributes a unit-variance
regression target, which is why it is the default. ``weighting="edm"`` computes it
in the denoised form; ``"v"`` in the target form (identical up to rounding); ``"x0"`` drops the
weight (plain denoising MSE, which strongly favours high noise levels; for ablations only).

Noise levels are drawn from a log-normal (``ln sigma ~ N(0.7, 1.6^2)``, the SVD fine-tuning
choice used by SVD-Xtend/Framer, on which the original training was based) or from the
"cosine-interpolated" distribution of simple diffusion whose constants the original code kept
(``sigma`` in [0.002, 700], image_d 64, noise_d 32 -> 64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..generation.conditioning import added_time_ids  # noqa: F401  (the trainer's import path)

SIGMA_DISTRIBUTIONS = ("lognormal", "cosine_interpolated")
WEIGHTINGS = ("edm", "v", "x0")


@dataclass
class SigmaSampler:
    """Draws training noise levels ``sigma`` (one per video)."""

    distribution: str = "lognormal"
    loc: float = 0.7  # lognormal: mean of ln sigma
    scale: float = 1.6  # lognormal: std of ln sigma
    sigma_min: float = 0.002
    sigma_max: float = 700.0
    image_d: float = 64.0  # cosine_interpolated: latent side the schedule is tuned for
    noise_d_low: float = 32.0
    noise_d_high: float = 64.0

    def __post_init__(self):
        if self.distribution not in SIGMA_DISTRIBUTIONS:
            raise ValueError(f"sigma distribution must be one of {SIGMA_DISTRIBUTIONS}, got {self.distribution!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    def __call__(self, batch_size: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        if self.distribution == "lognormal":
            u = u * (1 - 2e-7) + 1e-7
            sigma = torch.exp(self.loc + self.scale * math.sqrt(2.0) * torch.erfinv(2 * u - 1))
        else:
            sigma = _cosine_interpolated(u, self.image_d, self.noise_d_low, self.noise_d_high,
                                         self.sigma_min, self.sigma_max)
        return sigma.clamp(self.sigma_min, self.sigma_max).to(device=device, dtype=torch.float32)


def _cosine_interpolated(u: torch.Tensor, image_d: float, noise_d_low: float, noise_d_high: float,
                         sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Simple diffusion's shifted cosine log-SNR schedule, interpolated between two shifts."""
    logsnr_min, logsnr_max = -2 * math.log(sigma_max), -2 * math.log(sigma_min)

    def cosine(t, lo, hi):
        t_min, t_max = math.atan(math.exp(-0.5 * hi)), math.atan(math.exp(-0.5 * lo))
        return -2 * torch.log(torch.tan(t_min + t * (t_max - t_min)))

    def shifted(t, noise_d):
        shift = 2 * math.log(noise_d / image_d)
        return cosine(t, logsnr_min - shift, logsnr_max - shift) + shift

    logsnr = torch.lerp(shifted(u, noise_d_low), shifted(u, noise_d_high), u)
    return torch.exp(-logsnr / 2)


def _expand(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def edm_coefficients(sigma: torch.Tensor) -> dict[str, torch.Tensor]:
    """``c_skip``, ``c_out``, ``c_in``, ``c_noise`` and the loss weight for noise levels ``sigma``."""
    s2 = sigma.double() ** 2
    return {
        "c_skip": (1.0 / (s2 + 1)).to(sigma.dtype),
        "c_out": (-sigma.double() / torch.sqrt(s2 + 1)).to(sigma.dtype),
        "c_in": (1.0 / torch.sqrt(s2 + 1)).to(sigma.dtype),
        "c_noise": (0.25 * torch.log(sigma.double())).to(sigma.dtype),
        "weight": ((s2 + 1) / s2).to(sigma.dtype),
    }


@dataclass
class NoisedInputs:
    """What the network sees for one training step."""

    noisy: torch.Tensor  # x0 + sigma * n  (unscaled)
    model_input: torch.Tensor  # c_in * noisy
    timestep: torch.Tensor  # c_noise, one per video
    sigma: torch.Tensor


def add_noise(latents: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> NoisedInputs:
    """Noise ``latents`` ``(B, F, C, h, w)`` to level ``sigma`` ``(B,)`` and precondition them."""
    if latents.shape != noise.shape:
        raise ValueError(f"latents {tuple(latents.shape)} and noise {tuple(noise.shape)} must match")
    if sigma.ndim != 1 or sigma.shape[0] != latents.shape[0]:
        raise ValueError(f"sigma must be (B,) with B = {latents.shape[0]}, got {tuple(sigma.shape)}")
    c = edm_coefficients(sigma.float())
    noisy = latents + noise * _expand(sigma, latents)
    return NoisedInputs(noisy, noisy * _expand(c["c_in"], latents), c["c_noise"], sigma)


def v_target(latents: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The v the network should output: ``(x0 - c_skip * x) / c_out``."""
    c = edm_coefficients(sigma.float())
    noisy = latents + noise * _expand(sigma, latents)
    return (latents - _expand(c["c_skip"], latents) * noisy) / _expand(c["c_out"], latents)


def denoised(model_output: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``D = c_skip * x + c_out * F``: the clean latent the network predicts."""
    c = edm_coefficients(sigma.float())
    return _expand(c["c_skip"], noisy) * noisy + _expand(c["c_out"], noisy) * model_output


def diffusion_loss(model_output: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor,
                   weighting: str = "edm") -> torch.Tensor:
    """Mean training loss of one batch (computed in float32)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"loss weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    out, x0, n = model_output.float(), latents.float(), noise.float()
    sigma = sigma.float()
    if weighting == "v":
        per = (out - v_target(x0, n, sigma)) ** 2
        return per.mean()
    noisy = x0 + n * _expand(sigma, x0)
    per = (denoised(out, noisy, sigma) - x0) ** 2
    if weighting == "edm":
        per = per * _expand(edm_coefficients(sigma)["weight"], per)
    return per.mean()


def dropout_masks(batch_size: int, image_p: float, control_p: float, *, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Conditioning dropout as in SVD/InstructPix2Pix: returns keep-masks ``(B,)`` (1 = keep) for the
    CLIP image embedding, the first-frame latents and the control maps.

    With probability ``image_p`` the embedding is dropped, with an independent ``image_p`` the image
    latents, and with ``image_p`` both -- the three cases are disjoint, drawn from one uniform number
    (the unconditional branch of classifier-free guidance zeroes both). ``control_p`` drops the control
    maps independently."""
    if not 0.0 <= image_p <= 1.0 / 3:
        raise ValueError(f"image dropout probability must be in [0, 1/3], got {image_p}")
    if not 0.0 <= control_p <= 1.0:
        raise ValueError(f"control dropout probability must be in [0, 1], got {control_p}")
    u = torch.rand(batch_size, generator=generator)
    drop_emb = u < 2 * image_p
    drop_lat = (u >= image_p) & (u < 3 * image_p)
    uc = torch.rand(batch_size, generator=generator)
    keep = [(~drop_emb).float(), (~drop_lat).float(), (uc >= control_p).float()]
    return tuple(k.to(device) for k in keep)
