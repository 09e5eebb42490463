"""Latent penalties D_Z(Q_Z, P_Z): MMD (IMQ and RBF kernels), sliced Wasserstein, the Sinkhorn
divergence, the latent GAN, the VAE's KL, and the WGAN gradient penalty.

Chapter 3 (penalized OT, eq. (POT)) uses the MMD and the latent GAN; Chapter 4
the latent GAN of the adversarial auto-encoder; Chapter 5 the KL of the VAE;
Chapter 6 the gradient penalty of WGAN-GP; Chapter 7 adds the sliced Wasserstein (SWAE)
and Sinkhorn penalties to the cookbook.

:data:`LATENT_PENALTIES` is the registry of the sample-based divergences that
:class:`vegan_lib.recipes.WAE` accepts as ``penalty=``: a function
``f(qz, pz, **options) -> 0-d tensor`` between n codes and n prior samples. Registering a
new one there (and a row in :data:`vegan_lib.cookbook.COOKBOOK`) is all a new WAE variant
needs.

Notation: ``qz`` are codes z̃ ~ Q_Z (the encoded minibatch), ``pz`` samples of
the prior P_Z = N(0, σ_z² I). All functions are differentiable torch code that
works on any device and returns a 0-d tensor (or one value per sample for
:func:`kl_gaussian`).
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from . import _validation as _v
from .costs import pairwise_cost

__all__ = [
    "KERNELS",
    "MULTISCALE",
    "imq_scale",
    "squared_distances",
    "kernel_matrix",
    "mmd",
    "sliced_wasserstein_penalty",
    "sinkhorn_penalty",
    "LATENT_PENALTIES",
    "check_penalty_options",
    "penalty_parameters",
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


def _autocast_on(device_type: str) -> bool:
    """Is autocast on for this device type? (``torch.is_autocast_enabled(device_type)`` exists from
    torch 2.4; older releases have one query per device type.)"""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return bool(torch.is_autocast_enabled()) if device_type == "cuda" else False


def _up(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in _LOW else x


def imq_scale(d_z: int, sigma_z: float = 1.0) -> float:
    """The IMQ constant C = 2·d_z·σ_z² = E‖Z − Z'‖² for Z, Z' ~ N(0, σ_z² I) (Chapter 3, eq. (IMQ))."""
    d_z = _v.integer(d_z, "d_z")
    sigma_z = _v.number(sigma_z, "sigma_z", positive=True)
    return 2.0 * d_z * sigma_z ** 2


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Matrix of ‖x_i − y_j‖² (n, m), by the expansion ‖x‖² + ‖y‖² − 2⟨x, y⟩ clamped at 0 (Chapter 3)."""
    return pairwise_cost(x, y, "sqeuclidean")


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
    qz, pz = _pair(qz, pz)
    _v.choice(kernel, "kernel", KERNELS)
    scale = imq_scale(qz.shape[1], sigma_z) if scale is None else _v.number(scale, "scale", positive=True)
    _v.boolean(multiscale, "multiscale")
    if qz.dtype in _LOW or pz.dtype in _LOW or _autocast_on(qz.device.type):
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


def _pair(qz, pz):
    qz = _v.codes(qz, "qz", 2)
    pz = _v.codes(pz, "pz", 2)
    if qz.shape[1] != pz.shape[1]:
        raise ValueError(f"qz and pz must have the same latent dimension, got {tuple(qz.shape)} and {tuple(pz.shape)}")
    return qz, pz


def sliced_wasserstein_penalty(qz: torch.Tensor, pz: torch.Tensor, n_projections: int = 50) -> torch.Tensor:
    """Sliced Wasserstein SW_2²(Q_Z, P_Z) between codes and prior samples, the SWAE penalty
    (Chapter 7, eq. (SW); Kolouri et al. 2019).

    SW_2² = E_θ W_2²(θ#Q_Z, θ#P_Z) over directions θ uniform on the sphere, estimated with
    ``n_projections`` random directions; each 1-D W2 is exact (sorting). No adversary, no
    kernel: :func:`vegan_lib.ot.sliced_wasserstein` (POT's, differentiable, on the codes' device).
    """
    from .ot import sliced_wasserstein

    qz, pz = _pair(qz, pz)
    n_projections = _v.integer(n_projections, "n_projections")
    with torch.autocast(qz.device.type, enabled=False):
        return sliced_wasserstein(_up(qz), _up(pz), n_projections=n_projections, p=2)


def sinkhorn_penalty(qz: torch.Tensor, pz: torch.Tensor, reg: float | None = None, sigma_z: float = 1.0,
                     debiased: bool = True) -> torch.Tensor:
    """Sinkhorn divergence S_ε(Q_Z, P_Z) with the squared cost between codes and prior samples
    (Chapter 7, eq. (Sinkhorn); Genevay et al. 2018, Patrini et al. 2019).

    S_ε = OT_ε(Q, P) − ½ OT_ε(Q, Q) − ½ OT_ε(P, P) (``debiased=True``; ≥ 0, zero when the samples
    coincide), computed by :func:`vegan_lib.ot.sinkhorn_loss` (POT's torch backend,
    differentiable). ``reg`` = ε defaults to 0.1·E‖Z − Z'‖² = 0.1·2·d_z·σ_z², a tenth of the
    prior's typical squared distance.
    """
    from .ot import sinkhorn_loss

    qz, pz = _pair(qz, pz)
    reg = 0.1 * imq_scale(qz.shape[1], sigma_z) if reg is None else _v.number(reg, "reg", positive=True)
    with torch.autocast(qz.device.type, enabled=False):
        return sinkhorn_loss(_up(qz), _up(pz), reg, debiased=_v.boolean(debiased, "debiased"))


#: Sample-based latent divergences D_Z(codes, prior samples) that WAE accepts as ``penalty=``.
LATENT_PENALTIES = {"mmd": mmd, "sw": sliced_wasserstein_penalty, "sinkhorn": sinkhorn_penalty}


def penalty_parameters(penalty: str) -> set[str]:
    """The keyword options a registered latent penalty accepts (Chapter 7)."""
    fn = LATENT_PENALTIES[_v.choice(penalty, "penalty", tuple(LATENT_PENALTIES))]
    return set(inspect.signature(fn).parameters) - {"qz", "pz"}


def check_penalty_options(penalty: str, options: dict) -> dict:
    """Validate the keyword options of a latent penalty against its signature (Chapter 7)."""
    if not isinstance(options, dict):
        raise TypeError(f"penalty_options must be a dict, got {type(options).__name__}")
    if penalty == "gan":
        if options:
            raise ValueError(f"penalty 'gan' takes no penalty_options, got {sorted(options)}")
        return {}
    _v.choice(penalty, "penalty", tuple(LATENT_PENALTIES) + ("gan",))
    accepted = penalty_parameters(penalty)
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)} for penalty {penalty!r}; it accepts {sorted(accepted)}")
    return dict(options)


def _check_logits(x, name: str) -> torch.Tensor:
    _v.tensor(x, name, ndim=(1, 2))
    if x.ndim == 2 and x.shape[1] != 1:
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
    mu = _v.codes(mu, "mu")
    logvar = _v.codes(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    s2 = _v.number(sigma_z, "sigma_z", positive=True) ** 2
    return 0.5 * ((logvar.exp() + mu * mu) / s2 - 1.0 - logvar + math.log(s2)).sum(1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP Lipschitz penalty E[(‖∇_x f(x̂)‖ − 1)²] (Chapter 6, eq. (WGAN-GP); Gulrajani et al. 2017).

    x̂ = ε·x + (1 − ε)·x̃ with one ε ~ U[0, 1] per sample (``eps`` of shape (n,)
    fixes it, for tests); x are ``real`` samples, x̃ ``fake`` ones (detached
    here). The gradient is taken with ``create_graph=True`` so the penalty can
    be back-propagated into the critic. Returned without the weight λ_gp.
    """
    _v.tensor(real, "real")
    _v.tensor(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device, dtype=real.dtype)
    elif _v.tensor(eps, "eps").shape != (n,):
        raise ValueError(f"eps must have shape ({n},), got {tuple(eps.shape)}")
    eps = eps.view(n, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((torch.linalg.vector_norm(grad.flatten(1), dim=1) - 1.0) ** 2).mean()
