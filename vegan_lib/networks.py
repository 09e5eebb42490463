"""Networks of the cookbook: encoders Q(Z|X), decoders P_G(X|Z), critics and latent adversaries
(Chapters 3-7).

- MLPs for 2-D toys and flattened images (:func:`mlp`, :class:`MLPEncoder`, :class:`MLPDecoder`);
- the DCGAN-style convolutional encoder/decoder of the WAE paper for 28x28 images
  (:class:`ConvEncoder`, :class:`ConvDecoder`), with a width parameter (``base_channels``; the
  paper uses 128) so that CPU runs can shrink them, and a convolutional WGAN critic;
- the WAE-GAN latent discriminator (:func:`latent_adversary`).

Encoders are deterministic or Gaussian; decoders deterministic, Gaussian or Bernoulli. The
objectives that train them live in :mod:`vegan_lib.recipes`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _validation as _v
from .costs import paired_cost

__all__ = [
    "ENCODER_KINDS", "DECODER_KINDS",
    "mlp", "latent_adversary",
    "Encoder", "MLPEncoder", "ConvEncoder",
    "Decoder", "MLPDecoder", "ConvDecoder",
    "ConvCritic",
]

ENCODER_KINDS = ("deterministic", "gaussian")
DECODER_KINDS = ("deterministic", "gaussian", "bernoulli")
_OUTPUTS = ("sigmoid", "identity")


def _init_normal(module: nn.Module, std: float | None) -> nn.Module:
    """The WAE code's initialisation: weights N(0, std²), biases 0 (BN layers untouched)."""
    if std is not None:
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return module



def mlp(in_dim: int, out_dim: int, hidden=(), activation=nn.ReLU, flatten: bool = False) -> nn.Sequential:
    """A multilayer perceptron Linear-act-...-Linear (Chapters 3, 6: toy encoders, decoders, critics).

    ``hidden`` lists the hidden widths (empty: one linear layer). ``flatten``
    prepends ``nn.Flatten()`` so image batches can be fed directly.
    """
    _v.integer(in_dim, "in_dim")
    _v.integer(out_dim, "out_dim")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    dims = [in_dim, *[_v.integer(h, "hidden width") for h in hidden]]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


def latent_adversary(z_dim: int, width: int = 512, depth: int = 4) -> nn.Sequential:
    """The WAE-GAN latent discriminator: depth × (FC width + ReLU) → FC 1 (Chapter 3, eq. (WAE-GAN)).

    The WAE paper uses 4 × 512 (its code 4 × 1024); the output is a logit.
    """
    return mlp(z_dim, 1, (width,) * _v.integer(depth, "depth", 0))


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow 'SAME' padding: output size ceil(size/stride); extra padding goes bottom/right."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _dcgan_features(in_channels: int, base: int, image_size: int, batchnorm: bool, act) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    size, ch = image_size, in_channels
    for mult in (1, 2, 4, 8):
        size, before, after = _same_pad(size, 4, 2)
        if before == after:
            conv = nn.Conv2d(ch, base * mult, 4, 2, padding=before)
        else:
            layers.append(nn.ZeroPad2d((before, after, before, after)))
            conv = nn.Conv2d(ch, base * mult, 4, 2)
        layers.append(conv)
        if batchnorm:
            layers.append(nn.BatchNorm2d(base * mult, momentum=0.1, eps=1e-5))
        layers.append(act())
        ch = base * mult
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), ch * size * size


class Encoder(nn.Module):
    """Encoder Q(Z|X) (Chapter 3, eq. (POT); Chapter 5 for Gaussian encoders).

    ``kind="deterministic"``: z̃ = Q(x). ``kind="gaussian"``: Q(Z|x) =
    N(μ(x), diag e^{logvar(x)}), the network outputs (μ, logvar) as 2·d_z
    numbers. ``forward(x)`` returns ``(mean, logvar)`` (``logvar`` is None for a
    deterministic encoder); ``sample(x)`` draws z̃ by reparametrisation.
    """

    def __init__(self, net: nn.Module, z_dim: int, kind: str = "deterministic"):
        super().__init__()
        self.kind = _v.choice(kind, "encoder kind", ENCODER_KINDS)
        self.z_dim = _v.integer(z_dim, "z_dim")
        self.net = net

    def forward(self, x: torch.Tensor):
        h = self.net(x)
        if self.kind == "gaussian":
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar
        return h, None

    def sample(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """z̃ ~ Q(Z|x): the mean for a deterministic encoder, μ + e^{logvar/2}·ε otherwise."""
        mu, logvar = self(x)
        if logvar is None:
            return mu
        return self.reparametrize(mu, logvar, torch.randn_like(mu) if eps is None else eps)

    @staticmethod
    def reparametrize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """μ + e^{logvar/2}·ε, the reparametrisation trick (Chapter 5, eq. (ELBO))."""
        _v.tensor(eps, "eps")
        if eps.shape != mu.shape:
            raise ValueError(f"eps must have shape {tuple(mu.shape)}, got {tuple(eps.shape)}")
        return mu + torch.exp(0.5 * logvar) * eps


class MLPEncoder(Encoder):
    """MLP encoder for toy data (or flattened images) (Chapter 3)."""

    def __init__(self, x_shape, z_dim: int, hidden=(128, 128), kind: str = "deterministic"):
        x_shape = _v.shape(x_shape)
        out = _v.integer(z_dim, "z_dim") * (2 if _v.choice(kind, "encoder kind", ENCODER_KINDS) == "gaussian" else 1)
        super().__init__(mlp(math.prod(x_shape), out, hidden, flatten=len(x_shape) > 1), z_dim, kind)
        self.x_shape = x_shape


class ConvEncoder(Encoder):
    """DCGAN-style encoder of the WAE paper for 28x28 images (Chapter 3, set-up of WAE §4).

    4 × [Conv 4x4 stride 2 'SAME' → BN → ReLU] with base·(1, 2, 4, 8) channels
    (28 → 14 → 7 → 4 → 2), then a linear layer to d_z (2·d_z for a Gaussian
    encoder). The paper uses ``base_channels=128``; chapters on CPU use 8-32.
    ``init_std=0.01`` reproduces the WAE code's N(0, 0.01²) initialisation
    (default: PyTorch's).
    """

    def __init__(self, z_dim: int = 8, kind: str = "deterministic", base_channels: int = 128,
                 in_channels: int = 1, image_size: int = 28, init_std: float | None = None):
        _v.integer(base_channels, "base_channels")
        feats, n = _dcgan_features(_v.integer(in_channels, "in_channels"), base_channels,
                                   _v.integer(image_size, "image_size", 4), True, nn.ReLU)
        out = _v.integer(z_dim, "z_dim") * (2 if _v.choice(kind, "encoder kind", ENCODER_KINDS) == "gaussian" else 1)
        super().__init__(nn.Sequential(feats, nn.Linear(n, out)), z_dim, kind)
        self.x_shape = (in_channels, image_size, image_size)
        _init_normal(self, init_std)


class ConvCritic(nn.Module):
    """Convolutional WGAN critic for images (Chapter 6): the encoder's conv stack without
    batch norm (which the gradient penalty forbids), LeakyReLU(0.2), linear to 1."""

    def __init__(self, base_channels: int = 64, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        feats, n = _dcgan_features(_v.integer(in_channels, "in_channels"), _v.integer(base_channels, "base_channels"),
                                   _v.integer(image_size, "image_size", 4), False, lambda: nn.LeakyReLU(0.2))
        self.net = nn.Sequential(feats, nn.Linear(n, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Decoder P_G(X|Z) (Chapter 2, Result C; Chapters 3, 5).

    ``kind="deterministic"``: X = G(z). ``"gaussian"``: N(G(z), σ² I) with fixed
    ``sigma2``. ``"bernoulli"``: independent Bernoulli pixels with logits
    ``logits(z)`` and means G(z) = sigmoid(logits). ``output`` is the mean's
    activation: ``"sigmoid"`` (images in [0, 1]) or ``"identity"`` (toys).
    ``forward(z)`` is the mean G(z); ``nll(x, z)`` the per-sample −log p_G(x|z).
    """

    def __init__(self, net: nn.Module, x_shape, kind: str = "deterministic", output: str | None = None,
                 sigma2: float = 1.0):
        super().__init__()
        self.kind = _v.choice(kind, "decoder kind", DECODER_KINDS)
        if output is None:
            output = "sigmoid" if kind == "bernoulli" else "identity"
        self.output = _v.choice(output, "output", _OUTPUTS)
        if kind == "bernoulli" and output != "sigmoid":
            raise ValueError("a Bernoulli decoder needs output='sigmoid' (its mean is sigmoid(logits))")
        self.sigma2 = _v.number(sigma2, "sigma2", positive=True)
        self.x_shape = _v.shape(x_shape)
        self.net = net

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The network's raw output reshaped to ``(n, *x_shape)`` (logits for Bernoulli decoders)."""
        return self.net(z).view(z.shape[0], *self.x_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.logits(z)
        return torch.sigmoid(h) if self.output == "sigmoid" else h

    def nll(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """−log p_G(x|z) per sample (Chapter 5, eq. (ELBO)).

        Gaussian: ‖x − G(z)‖²/(2σ²) + (D/2)·log(2πσ²); Bernoulli: the binary
        cross-entropy Σ_pixels BCE(logits, x) (x in [0, 1]).
        """
        if self.kind == "deterministic":
            raise ValueError("a deterministic decoder has no likelihood; use kind='gaussian' or 'bernoulli'")
        if self.kind == "bernoulli":
            return F.binary_cross_entropy_with_logits(self.logits(z), x, reduction="none").flatten(1).sum(1)
        d = math.prod(self.x_shape)
        sq = paired_cost(x, self(z), "sqeuclidean")
        return sq / (2.0 * self.sigma2) + 0.5 * d * math.log(2.0 * math.pi * self.sigma2)


class MLPDecoder(Decoder):
    """MLP decoder (generator) for toy data (Chapters 3, 6)."""

    def __init__(self, z_dim: int, x_shape, hidden=(128, 128), kind: str = "deterministic",
                 output: str | None = None, sigma2: float = 1.0):
        x_shape = _v.shape(x_shape)
        super().__init__(mlp(_v.integer(z_dim, "z_dim"), math.prod(x_shape), hidden), x_shape, kind, output, sigma2)
        self.z_dim = z_dim


class ConvDecoder(Decoder):
    """DCGAN-style decoder of the WAE paper for 28x28 images (Chapter 3, set-up of WAE §4).

    z → FC 7·7·(8·base) → ReLU → ConvT 4x4/2 (4·base) → BN → ReLU → ConvT 4x4/2
    (2·base) → BN → ReLU → Conv 4x4/1 'SAME' → 1 channel (28x28). The mean is
    sigmoid of the output (logits for a Bernoulli decoder). The paper uses
    ``base_channels=128``.
    """

    def __init__(self, z_dim: int = 8, kind: str = "deterministic", base_channels: int = 128,
                 out_channels: int = 1, image_size: int = 28, output: str = "sigmoid",
                 sigma2: float = 1.0, init_std: float | None = None):
        b = _v.integer(base_channels, "base_channels")
        _v.integer(z_dim, "z_dim")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        s = image_size // 4
        net = nn.Sequential(
            nn.Linear(z_dim, 8 * b * s * s), nn.ReLU(), nn.Unflatten(1, (8 * b, s, s)),
            nn.ConvTranspose2d(8 * b, 4 * b, 4, 2, 1), nn.BatchNorm2d(4 * b), nn.ReLU(),
            nn.ConvTranspose2d(4 * b, 2 * b, 4, 2, 1), nn.BatchNorm2d(2 * b), nn.ReLU(),
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(2 * b, _v.integer(out_channels, "out_channels"), 4, 1),
        )
        super().__init__(net, (out_channels, image_size, image_size), kind, output, sigma2)
        self.z_dim = z_dim
        _init_normal(self, init_std)

