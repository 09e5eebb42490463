"""Latent penalties D_Z(Q_Z, P_Z): MMD (IMQ and RBF kernels), the latent GAN, the VAE's KL,
and the WGAN gradient penalty.

Chapter 3 (penalized OT, eq. (POT)) uses the MMD and the latent GAN; Chapter 4
the latent GAN of the adversarial auto-encoder; Chapter 5 the KL of the VAE;
Chapter 6 the gradient penalty of WGAN-GP.

Notation: ``qz`` are codes z̃ ~ Q_Z (the encoded minibatch), ``pz`` samples of
the prior P_Z = N(0, σ_z² I). All functions are differentiable torch code that
works on any device and returns a 0-d tensor (or one value per sample for
:func:`kl_gaussian`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "KERNELS",
    "MULTISCALE",
    "imq_scale",
    "squared_distances",
    "kernel_matrix",
    "mmd",
    "gan_discriminator_loss",
    "gan_encoder_loss",
    "kl_gaussian",
    "gradient_penalty",
]

#: Kernel names accepted by :func:`mmd`.
KERNELS = ("imq", "rbf")
#: Multipliers of the base scale C summed over by the multi-scale MMD of the WAE code.
MULTISCALE = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


_LOW = (torch.float16, torch.bfloat16)


def _up(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in _LOW else x


def _check_codes(x, name: str, min_rows: int = 1) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D tensor (n, d_z) of codes, got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} must hold at least {min_rows} codes, got shape {tuple(x.shape)}")
    return x


def imq_scale(d_z: int, sigma_z: float = 1.0) -> float:
    """The IMQ constant C = 2·d_z·σ_z² = E‖Z − Z'‖² for Z, Z' ~ N(0, σ_z² I) (Chapter 3, eq. (IMQ))."""
    if isinstance(d_z, bool) or not isinstance(d_z, int) or d_z <= 0:
        raise ValueError(f"d_z must be a positive int, got {d_z!r}")
    if not sigma_z > 0:
        raise ValueError(f"sigma_z must be positive, got {sigma_z!r}")
    return 2.0 * d_z * float(sigma_z) ** 2


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Matrix of ‖x_i − y_j‖² (n, m), by the expansion ‖x‖² + ‖y‖² − 2⟨x, y⟩ clamped at 0 (Chapter 3)."""
    d = (x * x).sum(1, keepdim=True) + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return d.clamp_min(0.0)


def kernel_matrix(d2: torch.Tensor, kernel: str, scales) -> torch.Tensor:
    """Kernel values from squared distances, summed over ``scales`` (Chapter 3, eq. (IMQ)).

    IMQ: k(x, y) = C / (C + ‖x − y‖²); RBF: k(x, y) = exp(−‖x − y‖² / σ_k²),
    with C (resp. σ_k²) running over ``scales``.
    """
    out = None
    for s in scales:
        k = s / (s + d2) if kernel == "imq" else torch.exp(-d2 / s)
        out = k if out is None else out + k
    return out


def mmd(qz: torch.Tensor, pz: torch.Tensor, kernel: str = "imq", scale: float | None = None,
        multiscale: bool = False, sigma_z: float = 1.0) -> torch.Tensor:
    """Unbiased minibatch estimate of MMD²_k(Q_Z, P_Z) (Chapter 3, eq. (MMD); WAE Algorithm 2).

    With n codes z̃ (``qz``) and m prior samples z (``pz``)::

        MMD² ≈ 1/(m(m−1)) Σ_{l≠j} k(z_l, z_j) + 1/(n(n−1)) Σ_{l≠j} k(z̃_l, z̃_j)
               − 2/(n·m) Σ_{l,j} k(z_l, z̃_j)

    as in the authors' code: the within-sample terms are U-statistics (diagonal
    excluded); the cross term averages over all pairs, which is unbiased because
    the two samples are independent. The estimate can be negative.

    ``kernel``: ``"imq"`` (inverse multiquadratics C/(C + ‖x−y‖²), the paper's
    choice) or ``"rbf"`` (exp(−‖x−y‖²/σ_k²)). ``scale``: C (or σ_k²); default
    2·d_z·σ_z² (:func:`imq_scale`). ``multiscale=True`` sums the kernel over
    C·{0.1, 0.2, 0.5, 1, 2, 5, 10} (:data:`MULTISCALE`), as the WAE code does.
    """
    qz = _check_codes(qz, "qz", 2)
    pz = _check_codes(pz, "pz", 2)
    if qz.shape[1] != pz.shape[1]:
        raise ValueError(f"qz and pz must have the same latent dimension, got {tuple(qz.shape)} and {tuple(pz.shape)}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if scale is None:
        scale = imq_scale(qz.shape[1], sigma_z)
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    if qz.dtype in _LOW or pz.dtype in _LOW or torch.is_autocast_enabled(qz.device.type):
        # Kernel sums need float32 at least: ‖x‖² + ‖y‖² − 2⟨x, y⟩ cancels badly in bf16/fp16.
        with torch.autocast(qz.device.type, enabled=False):
            return mmd(_up(qz), _up(pz), kernel, scale, multiscale, sigma_z)
    scales = [scale * s for s in MULTISCALE] if multiscale else [float(scale)]
    n, m = qz.shape[0], pz.shape[0]
    k_qq = kernel_matrix(squared_distances(qz, qz), kernel, scales)
    k_pp = kernel_matrix(squared_distances(pz, pz), kernel, scales)
    k_qp = kernel_matrix(squared_distances(qz, pz), kernel, scales)
    # Off-diagonal sums: total minus trace (the diagonal k(z, z) = number of scales for both kernels).
    within_q = (k_qq.sum() - k_qq.diagonal().sum()) / (n * (n - 1))
    within_p = (k_pp.sum() - k_pp.diagonal().sum()) / (m * (m - 1))
    return within_q + within_p - 2.0 * k_qp.mean()


def _check_logits(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] != 1):
        raise ValueError(f"{name} must be discriminator logits of shape (n,) or (n, 1), got {tuple(x.shape)}")
    return x


def gan_discriminator_loss(logits_prior: torch.Tensor, logits_codes: torch.Tensor) -> torch.Tensor:
    """Latent-GAN discriminator loss CE(D(z), 1) + CE(D(z̃), 0) (Chapter 3, eq. (WAE-GAN); Chapter 4).

    ``logits_prior`` are D's logits on prior samples z ~ P_Z, ``logits_codes``
    on codes z̃ ~ Q_Z; CE is the mean binary cross-entropy on logits, so this is
    −mean log D(z) − mean log(1 − D(z̃)) with D = sigmoid(logit). Minimising it
    over D estimates the Jensen–Shannon divergence (WAE Algorithm 1, ascent in γ).
    The WAE objective multiplies it by λ.
    """
    lp = _check_logits(logits_prior, "logits_prior")
    lq = _check_logits(logits_codes, "logits_codes")
    return (F.binary_cross_entropy_with_logits(lp, torch.ones_like(lp))
            + F.binary_cross_entropy_with_logits(lq, torch.zeros_like(lq)))


def gan_encoder_loss(logits_codes: torch.Tensor) -> torch.Tensor:
    """Non-saturating encoder loss CE(D(z̃), 1) = −mean log D(z̃) (Chapter 3, eq. (WAE-GAN); Chapter 4).

    What the encoder minimises to fool the latent discriminator (WAE Algorithm 1:
    descend (1/n) Σ c(x_i, G(z̃_i)) − λ·log D(z̃_i)).
    """
    lq = _check_logits(logits_codes, "logits_codes")
    return F.binary_cross_entropy_with_logits(lq, torch.ones_like(lq))


def kl_gaussian(mu: torch.Tensor, logvar: torch.Tensor, sigma_z: float = 1.0) -> torch.Tensor:
    """KL(N(μ, diag e^{logvar}) ‖ N(0, σ_z² I)) per sample, in closed form (Chapter 5, eq. (KL)).

    KL = ½ Σ_i [ (e^{logvar_i} + μ_i²)/σ_z² − 1 − logvar_i + log σ_z² ].
    Returns a tensor of shape (n,); the VAE averages it over the minibatch.
    """
    mu = _check_codes(mu, "mu")
    logvar = _check_codes(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if not sigma_z > 0:
        raise ValueError(f"sigma_z must be positive, got {sigma_z!r}")
    s2 = float(sigma_z) ** 2
    return 0.5 * ((logvar.exp() + mu * mu) / s2 - 1.0 - logvar + math.log(s2)).sum(1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP Lipschitz penalty E[(‖∇_x f(x̂)‖ − 1)²] (Chapter 6, eq. (WGAN-GP); Gulrajani et al. 2017).

    x̂ = ε·x + (1 − ε)·x̃ with one ε ~ U[0, 1] per sample (``eps`` of shape (n,)
    fixes it, for tests); x are ``real`` samples, x̃ ``fake`` ones (detached
    here). The gradient is taken with ``create_graph=True`` so the penalty can
    be back-propagated into the critic. Returned without the weight λ_gp.
    """
    for name, t in (("real", real), ("fake", fake)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating torch tensor, got {type(t).__name__}")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device, dtype=real.dtype)
    elif eps.shape != (n,):
        raise ValueError(f"eps must have shape ({n},), got {tuple(eps.shape)}")
    eps = eps.view(n, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((torch.linalg.vector_norm(grad.flatten(1), dim=1) - 1.0) ** 2).mean()
