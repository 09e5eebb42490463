"""Networks and objectives: the recipes of the VEGAN cookbook as one family of modules.

Networks (Chapters 3-7): MLP encoders/decoders/critics for 2-D toys and the
DCGAN-style convolutional encoder/decoder of the WAE paper for 28x28 images,
with a width parameter (``base_channels``; the paper uses 128) so quick mode
can shrink them. Encoders are deterministic or Gaussian; decoders
deterministic, Gaussian or Bernoulli.

Objectives (one family, :class:`Recipe`): :class:`WAE` (POT with any cost and an
MMD or latent-GAN penalty, Chapter 3), :class:`AAE` (the adversarial
auto-encoder as published, Chapter 4), :class:`VAE` (negative ELBO, Chapter 5),
:class:`WGAN` (weight clipping or gradient penalty, Chapter 6). A recipe owns
its networks, declares its optimizer groups, and implements
``train_step(x, optimizers) -> dict`` of detached 0-d loss tensors (no host
sync), ``loss(x, ...)`` (the objective's terms at the current parameters, with
optional fixed noise, for tests) and ``encode``/``decode``/``reconstruct``/``sample``.

:data:`COOKBOOK` maps (cost, latent divergence, encoder, decoder) to recipes
(Chapter 7); :func:`cookbook_table` renders it, :func:`cookbook_lookup` queries it
and :func:`build_recipe` builds any row with the paper's networks.

Costs are raw per-sample sums (e.g. c(x, y) = Σ_pixels (x − y)²) averaged over
the minibatch, times ``cost_scale`` (default 1). The WAE code uses
0.05·‖x − y‖², so its λ equals λ_raw / 20: pass ``cost_scale=0.05`` to copy it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import penalties

__all__ = [
    "COSTS", "ENCODER_KINDS", "DECODER_KINDS",
    "mlp", "transport_cost",
    "Encoder", "MLPEncoder", "ConvEncoder",
    "Decoder", "MLPDecoder", "ConvDecoder",
    "ConvCritic", "latent_adversary",
    "OptimizerSpec", "Recipe", "WAE", "VAE", "AAE", "WGAN",
    "CookbookEntry", "COOKBOOK", "cookbook_table", "cookbook_lookup", "build_recipe",
]

#: Transport costs c(x, y), per sample, summed over coordinates (Chapter 3, eq. (cost)).
COSTS = ("sqeuclidean", "euclidean", "l1")
ENCODER_KINDS = ("deterministic", "gaussian")
DECODER_KINDS = ("deterministic", "gaussian", "bernoulli")
_OUTPUTS = ("sigmoid", "identity")


# ----------------------------------------------------------------------------- checks

def _number(value, name: str, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0) or (nonnegative and value < 0):
        what = "positive" if positive else "non-negative" if nonnegative else "finite"
        raise ValueError(f"{name} must be a {what} finite number, got {value}")
    return value


def _int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def _shape(x_shape, name: str = "x_shape") -> tuple[int, ...]:
    if isinstance(x_shape, int) and not isinstance(x_shape, bool):
        x_shape = (x_shape,)
    try:
        x_shape = tuple(int(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {x_shape!r}") from None
    if not x_shape or any(s <= 0 for s in x_shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {x_shape!r}")
    return x_shape


def _check_batch(x, x_shape, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if tuple(x.shape[1:]) != tuple(x_shape) or x.ndim != len(x_shape) + 1:
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, x_shape))}), got {tuple(x.shape)}")
    return x


def _init_normal(module: nn.Module, std: float | None) -> nn.Module:
    """The WAE code's initialisation: weights N(0, std²), biases 0 (BN layers untouched)."""
    if std is not None:
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return module


# ----------------------------------------------------------------------------- costs

def transport_cost(x: torch.Tensor, y: torch.Tensor, cost: str = "sqeuclidean") -> torch.Tensor:
    """Per-sample cost c(x_i, y_i), summed over all coordinates (Chapter 3, eq. (cost)).

    ``"sqeuclidean"``: ‖x − y‖² (W2² cost, the WAE paper's); ``"euclidean"``:
    ‖x − y‖ (W1 cost); ``"l1"``: Σ|x − y|. Returns shape (n,).
    """
    _choice(cost, "cost", COSTS)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    diff = (x - y).flatten(1)
    if cost == "sqeuclidean":
        return (diff * diff).sum(1)
    if cost == "euclidean":
        return torch.linalg.vector_norm(diff, dim=1)
    return diff.abs().sum(1)


# ----------------------------------------------------------------------------- networks

def mlp(in_dim: int, out_dim: int, hidden=(), activation=nn.ReLU, flatten: bool = False) -> nn.Sequential:
    """A multilayer perceptron Linear-act-...-Linear (Chapters 3, 6: toy encoders, decoders, critics).

    ``hidden`` lists the hidden widths (empty: one linear layer). ``flatten``
    prepends ``nn.Flatten()`` so image batches can be fed directly.
    """
    _int(in_dim, "in_dim")
    _int(out_dim, "out_dim")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    dims = [in_dim, *[_int(h, "hidden width") for h in hidden]]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


def latent_adversary(z_dim: int, width: int = 512, depth: int = 4) -> nn.Sequential:
    """The WAE-GAN latent discriminator: depth × (FC width + ReLU) → FC 1 (Chapter 3, eq. (WAE-GAN)).

    The WAE paper uses 4 × 512 (its code 4 × 1024); the output is a logit.
    """
    return mlp(z_dim, 1, (width,) * _int(depth, "depth", 0))


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
        self.kind = _choice(kind, "encoder kind", ENCODER_KINDS)
        self.z_dim = _int(z_dim, "z_dim")
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
        return _reparam(mu, logvar, eps)


def _reparam(mu, logvar, eps):
    if logvar is None:
        return mu
    if eps is None:
        eps = torch.randn_like(mu)
    elif eps.shape != mu.shape:
        raise ValueError(f"eps must have shape {tuple(mu.shape)}, got {tuple(eps.shape)}")
    return mu + torch.exp(0.5 * logvar) * eps


class MLPEncoder(Encoder):
    """MLP encoder for toy data (or flattened images) (Chapter 3)."""

    def __init__(self, x_shape, z_dim: int, hidden=(128, 128), kind: str = "deterministic"):
        x_shape = _shape(x_shape)
        out = _int(z_dim, "z_dim") * (2 if _choice(kind, "encoder kind", ENCODER_KINDS) == "gaussian" else 1)
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
        _int(base_channels, "base_channels")
        feats, n = _dcgan_features(_int(in_channels, "in_channels"), base_channels,
                                   _int(image_size, "image_size", 4), True, nn.ReLU)
        out = _int(z_dim, "z_dim") * (2 if _choice(kind, "encoder kind", ENCODER_KINDS) == "gaussian" else 1)
        super().__init__(nn.Sequential(feats, nn.Linear(n, out)), z_dim, kind)
        self.x_shape = (in_channels, image_size, image_size)
        _init_normal(self, init_std)


class ConvCritic(nn.Module):
    """Convolutional WGAN critic for images (Chapter 6): the encoder's conv stack without
    batch norm (which the gradient penalty forbids), LeakyReLU(0.2), linear to 1."""

    def __init__(self, base_channels: int = 64, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        feats, n = _dcgan_features(_int(in_channels, "in_channels"), _int(base_channels, "base_channels"),
                                   _int(image_size, "image_size", 4), False, lambda: nn.LeakyReLU(0.2))
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
        self.kind = _choice(kind, "decoder kind", DECODER_KINDS)
        if output is None:
            output = "sigmoid" if kind == "bernoulli" else "identity"
        self.output = _choice(output, "output", _OUTPUTS)
        if kind == "bernoulli" and output != "sigmoid":
            raise ValueError("a Bernoulli decoder needs output='sigmoid' (its mean is sigmoid(logits))")
        self.sigma2 = _number(sigma2, "sigma2", positive=True)
        self.x_shape = _shape(x_shape)
        self.net = net

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The network's raw output reshaped to (n, *x_shape) (logits for Bernoulli decoders)."""
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
        sq = transport_cost(x, self(z), "sqeuclidean")
        return sq / (2.0 * self.sigma2) + 0.5 * d * math.log(2.0 * math.pi * self.sigma2)


class MLPDecoder(Decoder):
    """MLP decoder (generator) for toy data (Chapters 3, 6)."""

    def __init__(self, z_dim: int, x_shape, hidden=(128, 128), kind: str = "deterministic",
                 output: str | None = None, sigma2: float = 1.0):
        x_shape = _shape(x_shape)
        super().__init__(mlp(_int(z_dim, "z_dim"), math.prod(x_shape), hidden), x_shape, kind, output, sigma2)
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
        b = _int(base_channels, "base_channels")
        _int(z_dim, "z_dim")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        s = image_size // 4
        net = nn.Sequential(
            nn.Linear(z_dim, 8 * b * s * s), nn.ReLU(), nn.Unflatten(1, (8 * b, s, s)),
            nn.ConvTranspose2d(8 * b, 4 * b, 4, 2, 1), nn.BatchNorm2d(4 * b), nn.ReLU(),
            nn.ConvTranspose2d(4 * b, 2 * b, 4, 2, 1), nn.BatchNorm2d(2 * b), nn.ReLU(),
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(2 * b, _int(out_channels, "out_channels"), 4, 1),
        )
        super().__init__(net, (out_channels, image_size, image_size), kind, output, sigma2)
        self.z_dim = z_dim
        _init_normal(self, init_std)


# ----------------------------------------------------------------------------- recipes

_OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


@dataclass
class OptimizerSpec:
    """One optimizer group of a recipe: its parameters and default hyperparameters (Chapter 3)."""

    params: list
    algorithm: str = "adam"
    lr: float = 1e-3
    betas: tuple = (0.5, 0.999)

    def build(self, **overrides) -> torch.optim.Optimizer:
        unknown = set(overrides) - {"algorithm", "lr", "betas"}
        if unknown:
            raise ValueError(f"unknown optimizer settings {sorted(unknown)}; use algorithm, lr, betas")
        algorithm = _choice(overrides.get("algorithm", self.algorithm), "algorithm", tuple(_OPTIMIZERS))
        lr = _number(overrides.get("lr", self.lr), "lr", positive=True)
        if algorithm == "adam":
            return torch.optim.Adam(self.params, lr=lr, betas=tuple(overrides.get("betas", self.betas)))
        return torch.optim.RMSprop(self.params, lr=lr)


class Recipe(nn.Module):
    """Base class of the cookbook's objectives (Chapter 7).

    A recipe owns its networks and prior N(0, σ_z² I), declares its optimizer
    groups (:meth:`optimizer_specs`), and implements :meth:`train_step` (one
    training iteration, returning detached 0-d tensors: no host sync) and
    :meth:`loss` (the objective's terms at the current parameters). The trainer
    gives ``train_step`` ``batches_per_step`` minibatches stacked into one tensor.
    """

    name = "recipe"
    #: how many data minibatches one train_step consumes (WGAN: one per critic step)
    batches_per_step = 1

    def __init__(self, z_dim: int, sigma_z: float = 1.0):
        super().__init__()
        self.z_dim = _int(z_dim, "z_dim")
        self.sigma_z = _number(sigma_z, "sigma_z", positive=True)

    # -- to implement
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        """Optimizer groups: name → parameters and default algorithm/lr/betas."""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, **noise) -> dict[str, torch.Tensor]:
        """The objective's terms on batch x at the current parameters (no update);
        keyword arguments fix the noise (prior samples, ε) so tests can compute them by hand."""
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, torch.Tensor]:
        """One training iteration on x (all inner steps included); returns detached 0-d
        loss tensors, left on the device (the trainer moves them to the host when it logs)."""
        raise NotImplementedError

    # -- shared
    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one data point, e.g. (1, 28, 28)."""
        return self.decoder.x_shape

    def make_optimizers(self, overrides: dict | None = None) -> dict[str, torch.optim.Optimizer]:
        """Build the recipe's optimizers, e.g. ``make_optimizers({"ae": {"lr": 1e-4}})``."""
        specs = self.optimizer_specs()
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(specs)
        if unknown:
            raise ValueError(f"unknown optimizer group(s) {sorted(unknown)}; {type(self).__name__} has {sorted(specs)}")
        return {k: spec.build(**overrides.get(k, {})) for k, spec in specs.items()}

    def _device_dtype(self):
        p = next(self.parameters())
        return p.device, p.dtype

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples of the prior P_Z = N(0, σ_z² I_{d_z}) (Chapter 3)."""
        _int(n, "n")
        device, dtype = self._device_dtype()
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, self.z_dim, generator=generator, device=gen_device, dtype=dtype)
        return z.to(device) * self.sigma_z

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Codes of x: the encoder mean, or a draw z̃ ~ Q(Z|x) if ``sample``."""
        _check_batch(x, self.x_shape)
        return self.encoder.sample(x) if sample else self.encoder(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean G(z)."""
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(mean of Q(Z|x)) (Chapter 3, test reconstructions)."""
        return self.decode(self.encode(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Model samples G(z), z ~ P_Z (decoder means for random decoders)."""
        return self.decode(self.prior_sample(n, generator))

    @staticmethod
    def _step(optimizer, loss):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _check_pair(encoder, decoder, encoder_kinds=ENCODER_KINDS, decoder_kinds=DECODER_KINDS, who="recipe"):
    if not isinstance(encoder, Encoder):
        raise TypeError(f"encoder must be a vegan_lib.models.Encoder, got {type(encoder).__name__}")
    if not isinstance(decoder, Decoder):
        raise TypeError(f"decoder must be a vegan_lib.models.Decoder, got {type(decoder).__name__}")
    if encoder.kind not in encoder_kinds:
        raise ValueError(f"{who} needs an encoder of kind {encoder_kinds}, got {encoder.kind!r}")
    if decoder.kind not in decoder_kinds:
        raise ValueError(f"{who} needs a decoder of kind {decoder_kinds}, got {decoder.kind!r}")
    z_dec = getattr(decoder, "z_dim", encoder.z_dim)
    if z_dec != encoder.z_dim:
        raise ValueError(f"encoder and decoder latent sizes differ: {encoder.z_dim} and {z_dec}")
    x_enc = getattr(encoder, "x_shape", decoder.x_shape)
    if tuple(x_enc) != tuple(decoder.x_shape):
        raise ValueError(f"encoder and decoder data shapes differ: {x_enc} and {decoder.x_shape}")


class _AutoEncoderMixin:
    def _recon(self, x, z):
        """Mean over the batch of cost_scale · c(x, G(z)) (or −log p_G(x|z) when cost='nll')."""
        if self.cost == "nll":
            per = self.decoder.nll(x, z)
        else:
            per = transport_cost(x, self.decoder(z), self.cost)
        return self.cost_scale * per.mean()


def _check_cost(cost, decoder):
    _choice(cost, "cost", COSTS + ("nll",))
    if cost == "nll" and decoder.kind == "deterministic":
        raise ValueError("cost='nll' needs a Gaussian or Bernoulli decoder")
    return cost


class WAE(_AutoEncoderMixin, Recipe):
    """POT / Wasserstein auto-encoder (Chapter 3, eq. (POT); WAE eq. 4, Algorithms 1-2).

    Minimises  (1/n) Σ_i cost_scale·c(x_i, G(z̃_i)) + λ·D_Z(Q_Z, P_Z),  z̃_i ~ Q(Z|x_i).

    ``penalty="mmd"``: D_Z is the unbiased MMD² estimate between the codes and n
    prior samples (:func:`vegan_lib.penalties.mmd`, IMQ kernel with
    C = 2·d_z·σ_z² by default; ``kernel``, ``scale``, ``multiscale`` are passed on).
    One Adam step on (encoder, decoder) per iteration (Algorithm 2).

    ``penalty="gan"``: D_Z = JS estimated by the latent ``adversary`` (default
    :func:`latent_adversary`, 4 × FC512). Per iteration (as the WAE code): one
    step of (encoder, decoder) on recon + λ·(−log D(z̃)) (non-saturating), then
    one adversary step on λ·[CE(D(z), 1) + CE(D(z̃), 0)] with the same codes
    (detached) (Algorithm 1).

    ``cost``: ``"sqeuclidean"`` (the paper's), ``"euclidean"``, ``"l1"`` applied to
    the decoder mean, or ``"nll"`` (−log p_G(x|z) of a Gaussian/Bernoulli
    decoder; with a Gaussian decoder of variance σ² this is the squared cost
    /(2σ²) + const, Chapter 4's λ = 2σ²α relation). Defaults follow the WAE
    paper for MNIST: λ = 10, σ_z = 1, Adam lr 1e-3 (adversary 5e-4), β = (0.5, 0.999).
    Optimizer groups: ``"ae"`` (encoder + decoder) and, for the GAN penalty, ``"adv"``.
    """

    name = "WAE"
    PENALTIES = ("mmd", "gan")

    def __init__(self, encoder: Encoder, decoder: Decoder, *, penalty: str = "mmd", cost: str = "sqeuclidean",
                 lam: float = 10.0, sigma_z: float = 1.0, kernel: str = "imq", scale: float | None = None,
                 multiscale: bool = False, adversary: nn.Module | None = None, cost_scale: float = 1.0,
                 lr: float = 1e-3, adv_lr: float = 5e-4, betas=(0.5, 0.999)):
        _check_pair(encoder, decoder, who="WAE")
        super().__init__(encoder.z_dim, sigma_z)
        self.penalty = _choice(penalty, "penalty", self.PENALTIES)
        self.cost = _check_cost(cost, decoder)
        self.lam = _number(lam, "lam", nonnegative=True)
        self.kernel = _choice(kernel, "kernel", penalties.KERNELS)
        self.scale = None if scale is None else _number(scale, "scale", positive=True)
        self.multiscale = bool(multiscale)
        self.cost_scale = _number(cost_scale, "cost_scale", positive=True)
        self.lr, self.adv_lr, self.betas = lr, adv_lr, tuple(betas)
        self.encoder, self.decoder = encoder, decoder
        if penalty == "gan":
            self.adversary = adversary if adversary is not None else latent_adversary(self.z_dim)
        elif adversary is not None:
            raise ValueError("adversary is only used with penalty='gan'")
        self.name = "WAE-MMD" if penalty == "mmd" else "WAE-GAN"

    def optimizer_specs(self):
        specs = {"ae": OptimizerSpec(list(self.encoder.parameters()) + list(self.decoder.parameters()),
                                     "adam", self.lr, self.betas)}
        if self.penalty == "gan":
            specs["adv"] = OptimizerSpec(list(self.adversary.parameters()), "adam", self.adv_lr, self.betas)
        return specs

    def loss(self, x, z_prior=None, eps=None):
        """Terms of the WAE objective on batch x: ``loss`` (what the encoder/decoder minimise),
        ``recon``, and ``mmd`` or (``enc_gan`` = −mean log D(z̃), ``adv_loss``). ``z_prior``
        (n, d_z) and ``eps`` (Gaussian-encoder noise) fix the randomness."""
        _check_batch(x, self.x_shape)
        z = self.encoder.sample(x, eps)
        recon = self._recon(x, z)
        if z_prior is None:
            z_prior = torch.randn_like(z) * self.sigma_z
        if self.penalty == "mmd":
            pen = penalties.mmd(z, z_prior, self.kernel, self.scale, self.multiscale, self.sigma_z)
            return {"loss": recon + self.lam * pen, "recon": recon, "mmd": pen}
        enc_gan = penalties.gan_encoder_loss(self.adversary(z))
        adv = self.lam * penalties.gan_discriminator_loss(self.adversary(z_prior), self.adversary(z.detach()))
        return {"loss": recon + self.lam * enc_gan, "recon": recon, "enc_gan": enc_gan, "adv_loss": adv}

    def train_step(self, x, optimizers):
        out = self.loss(x)
        self._step(optimizers["ae"], out["loss"])
        if self.penalty == "gan":
            # The adversary's loss uses detached codes and the adversary alone, so the
            # encoder/decoder step above does not change it.
            self._step(optimizers["adv"], out["adv_loss"])
        return {k: v.detach() for k, v in out.items()}


class VAE(Recipe):
    """Variational auto-encoder: minimises the negative ELBO (Chapter 5, eq. (ELBO)).

    loss = (1/n) Σ_i [ −log p_G(x_i | z̃_i) + β·KL(Q(Z|x_i) ‖ N(0, σ_z² I)) ],
    z̃_i = μ(x_i) + σ(x_i)·ε (reparametrisation), KL in closed form
    (:func:`vegan_lib.penalties.kl_gaussian`); β = 1 is the VAE. Needs a Gaussian
    encoder and a Gaussian or Bernoulli decoder (the WAE paper's MNIST VAE is
    Bernoulli). Optimizer group ``"ae"`` (Adam, WAE-paper defaults).
    """

    name = "VAE"

    def __init__(self, encoder: Encoder, decoder: Decoder, *, sigma_z: float = 1.0, beta: float = 1.0,
                 lr: float = 1e-3, betas=(0.5, 0.999)):
        _check_pair(encoder, decoder, ("gaussian",), ("gaussian", "bernoulli"), "VAE")
        super().__init__(encoder.z_dim, sigma_z)
        self.beta = _number(beta, "beta", nonnegative=True)
        self.lr, self.betas = lr, tuple(betas)
        self.encoder, self.decoder = encoder, decoder

    def optimizer_specs(self):
        return {"ae": OptimizerSpec(list(self.encoder.parameters()) + list(self.decoder.parameters()),
                                    "adam", self.lr, self.betas)}

    def loss(self, x, eps=None):
        """``loss`` (negative ELBO, per sample mean), ``nll`` and ``kl`` on batch x (``eps`` fixes ε)."""
        _check_batch(x, self.x_shape)
        mu, logvar = self.encoder(x)
        z = _reparam(mu, logvar, eps)
        nll = self.decoder.nll(x, z).mean()
        kl = penalties.kl_gaussian(mu, logvar, self.sigma_z).mean()
        return {"loss": nll + self.beta * kl, "nll": nll, "kl": kl}

    def train_step(self, x, optimizers):
        out = self.loss(x)
        self._step(optimizers["ae"], out["loss"])
        return {k: v.detach() for k, v in out.items()}


class AAE(_AutoEncoderMixin, Recipe):
    """Adversarial auto-encoder as published (Chapter 4; Makhzani et al. 2016, §2).

    Each minibatch has two phases with three optimizers:
    1. reconstruction: (encoder, decoder) minimise (1/n) Σ cost_scale·c(x_i, G(z̃_i)) (group ``"ae"``);
    2. regularization: the discriminator minimises CE(D(z), 1) + CE(D(z̃), 0),
       z ~ P_Z, z̃ from the updated encoder (group ``"adv"``); then the encoder,
       as generator, minimises CE(D(z̃), 1) = −mean log D(z̃) (group ``"gen"``).
    There is no explicit λ: the trade-off lives in the learning rates. With the
    squared cost and a latent GAN this matches WAE-GAN's objective (Chapter 4).
    Defaults: Adam with the WAE paper's settings (ae 1e-3, adv and gen 5e-4).
    """

    name = "AAE"

    def __init__(self, encoder: Encoder, decoder: Decoder, adversary: nn.Module | None = None, *,
                 cost: str = "sqeuclidean", sigma_z: float = 1.0, cost_scale: float = 1.0, lr: float = 1e-3,
                 adv_lr: float = 5e-4, gen_lr: float = 5e-4, betas=(0.5, 0.999)):
        _check_pair(encoder, decoder, who="AAE")
        super().__init__(encoder.z_dim, sigma_z)
        self.cost = _check_cost(cost, decoder)
        self.cost_scale = _number(cost_scale, "cost_scale", positive=True)
        self.lr, self.adv_lr, self.gen_lr, self.betas = lr, adv_lr, gen_lr, tuple(betas)
        self.encoder, self.decoder = encoder, decoder
        self.adversary = adversary if adversary is not None else latent_adversary(self.z_dim)

    def optimizer_specs(self):
        return {"ae": OptimizerSpec(list(self.encoder.parameters()) + list(self.decoder.parameters()),
                                    "adam", self.lr, self.betas),
                "adv": OptimizerSpec(list(self.adversary.parameters()), "adam", self.adv_lr, self.betas),
                "gen": OptimizerSpec(list(self.encoder.parameters()), "adam", self.gen_lr, self.betas)}

    def loss(self, x, z_prior=None, eps=None):
        """``recon``, ``disc_loss`` and ``gen_loss`` at the current parameters (no phases)."""
        _check_batch(x, self.x_shape)
        z = self.encoder.sample(x, eps)
        if z_prior is None:
            z_prior = torch.randn_like(z) * self.sigma_z
        return {"recon": self._recon(x, z),
                "disc_loss": penalties.gan_discriminator_loss(self.adversary(z_prior), self.adversary(z.detach())),
                "gen_loss": penalties.gan_encoder_loss(self.adversary(z))}

    def train_step(self, x, optimizers):
        _check_batch(x, self.x_shape)
        recon = self._recon(x, self.encoder.sample(x))          # 1. reconstruction phase
        self._step(optimizers["ae"], recon)
        with torch.no_grad():                                    # 2a. discriminator
            z_fake = self.encoder.sample(x)
        z_prior = torch.randn_like(z_fake) * self.sigma_z
        disc = penalties.gan_discriminator_loss(self.adversary(z_prior), self.adversary(z_fake))
        self._step(optimizers["adv"], disc)
        gen = penalties.gan_encoder_loss(self.adversary(self.encoder.sample(x)))  # 2b. encoder as generator
        self._step(optimizers["gen"], gen)
        return {"recon": recon.detach(), "disc_loss": disc.detach(), "gen_loss": gen.detach()}


class WGAN(Recipe):
    """Wasserstein GAN: the Kantorovich–Rubinstein dual of W1 (Chapter 6, eq. (KR), (WGAN)).

    The critic f maximises E f(X) − E f(G(Z)) (critic loss
    E f(G(Z)) − E f(X)), the generator minimises −E f(G(Z)). ``n_critic``
    critic steps per generator step, each on its own real minibatch: the
    trainer passes ``n_critic`` minibatches stacked (``batches_per_step``).
    ``mode="clip"``: weights clipped to [−clip, clip] after each critic step,
    RMSprop lr 5e-5 (Arjovsky et al. 2017). ``mode="gp"``: critic loss plus
    gp_weight·E(‖∇f(x̂)‖ − 1)² (:func:`vegan_lib.penalties.gradient_penalty`),
    Adam lr 1e-4, β = (0.5, 0.9) (Gulrajani et al. 2017's code; their
    Algorithm 1 uses β1 = 0). Optimizer groups ``"critic"`` and ``"gen"``.
    """

    name = "WGAN"
    MODES = ("clip", "gp")

    def __init__(self, generator: Decoder, critic: nn.Module, *, mode: str = "gp", n_critic: int = 5,
                 clip: float = 0.01, gp_weight: float = 10.0, sigma_z: float = 1.0, lr: float | None = None,
                 betas=None):
        if not isinstance(generator, Decoder):
            raise TypeError(f"generator must be a vegan_lib.models.Decoder, got {type(generator).__name__}")
        if generator.kind != "deterministic":
            raise ValueError(f"WGAN needs a deterministic generator, got kind {generator.kind!r}")
        if not isinstance(critic, nn.Module):
            raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
        z_dim = getattr(generator, "z_dim", None)
        if z_dim is None:
            raise ValueError("generator must have a z_dim attribute (use MLPDecoder or ConvDecoder)")
        super().__init__(z_dim, sigma_z)
        self.mode = _choice(mode, "mode", self.MODES)
        self.n_critic = self.batches_per_step = _int(n_critic, "n_critic")
        self.clip = _number(clip, "clip", positive=True)
        self.gp_weight = _number(gp_weight, "gp_weight", nonnegative=True)
        self.lr = lr if lr is not None else (5e-5 if mode == "clip" else 1e-4)
        self.betas = tuple(betas) if betas is not None else (0.5, 0.9)
        self.generator, self.critic = generator, critic
        self.name = "WGAN-clip" if mode == "clip" else "WGAN-GP"

    @property
    def x_shape(self):
        return self.generator.x_shape

    def optimizer_specs(self):
        algo = "rmsprop" if self.mode == "clip" else "adam"
        return {"critic": OptimizerSpec(list(self.critic.parameters()), algo, self.lr, self.betas),
                "gen": OptimizerSpec(list(self.generator.parameters()), algo, self.lr, self.betas)}

    def decode(self, z):
        return self.generator(z)

    def encode(self, x, sample=False):
        raise NotImplementedError("a WGAN has no encoder (Chapter 6: the critic is the dual variable)")

    def reconstruct(self, x):
        raise NotImplementedError("a WGAN has no encoder, so it cannot reconstruct")

    def _critic_terms(self, x, fake, eps=None):
        f_real, f_fake = self.critic(x).mean(), self.critic(fake).mean()
        w1 = f_real - f_fake
        out = {"critic_loss": -w1, "w1_estimate": w1}
        if self.mode == "gp":
            gp = penalties.gradient_penalty(self.critic, x, fake, eps)
            out["critic_loss"] = -w1 + self.gp_weight * gp
            out["gp"] = gp
        return out

    def loss(self, x, z=None, eps=None):
        """``critic_loss``, ``w1_estimate`` (E f(x) − E f(G(z))), ``gp`` (mode 'gp') and
        ``gen_loss`` (−E f(G(z))) on one real batch x; ``z`` and ``eps`` fix the noise."""
        _check_batch(x, self.x_shape)
        if z is None:
            z = self.prior_sample(x.shape[0])
        fake = self.generator(z)
        out = self._critic_terms(x, fake.detach(), eps)
        out["gen_loss"] = -self.critic(fake).mean()
        return out

    def train_step(self, x, optimizers):
        _check_batch(x, self.x_shape)
        if x.shape[0] % self.n_critic:
            raise ValueError(f"x must stack n_critic={self.n_critic} minibatches, got {x.shape[0]} rows")
        b = x.shape[0] // self.n_critic
        for xb in x.split(b):
            with torch.no_grad():
                fake = self.generator(self.prior_sample(b))
            out = self._critic_terms(xb, fake)
            self._step(optimizers["critic"], out["critic_loss"])
            if self.mode == "clip":
                with torch.no_grad():
                    for p in self.critic.parameters():
                        p.clamp_(-self.clip, self.clip)
        gen = -self.critic(self.generator(self.prior_sample(b))).mean()
        self._step(optimizers["gen"], gen)
        out = {k: v.detach() for k, v in out.items()}
        out["gen_loss"] = gen.detach()
        return out


# ----------------------------------------------------------------------------- cookbook

@dataclass(frozen=True)
class CookbookEntry:
    """One recipe of the VEGAN cookbook (Chapter 7, the recipes table).

    ``costs``, ``divergence``, ``encoders``, ``decoders`` are the machine-readable
    keys used by :func:`cookbook_lookup`; ``objective`` is the equation in text.
    """

    name: str
    costs: tuple
    divergence: str
    encoders: tuple
    decoders: tuple
    recipe: type
    options: dict = field(default_factory=dict)
    objective: str = ""
    chapter: int = 0
    reference: str = ""


_WAE_COSTS = ("sqeuclidean", "euclidean", "l1")

#: The cookbook: (cost, latent divergence, encoder, decoder) → recipe (Chapter 7).
COOKBOOK: tuple[CookbookEntry, ...] = (
    CookbookEntry("WAE-MMD", _WAE_COSTS, "mmd", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "mmd"}, "E c(X, G(Z̃)) + λ·MMD²_k(Q_Z, P_Z), k = IMQ", 3,
                  "Tolstikhin et al. 2018, Alg. 2; Bousquet et al. 2017 (POT)"),
    CookbookEntry("WAE-GAN", _WAE_COSTS, "gan", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "gan"}, "E c(X, G(Z̃)) + λ·JS(Q_Z, P_Z) (latent adversary)", 3,
                  "Tolstikhin et al. 2018, Alg. 1; Bousquet et al. 2017 (POT)"),
    CookbookEntry("AAE", ("sqeuclidean",), "gan", ("deterministic", "gaussian"), ("deterministic",), AAE,
                  {}, "E ‖X − G(Z̃)‖² and, alternately, JS(Q_Z, P_Z) (latent GAN); = POT with W2²", 4,
                  "Makhzani et al. 2016; Bousquet et al. 2017"),
    CookbookEntry("VAE", ("nll",), "kl", ("gaussian",), ("gaussian", "bernoulli"), VAE,
                  {}, "E[−log p_G(X|Z̃)] + E_X KL(Q(Z|X) ‖ P_Z) (negative ELBO)", 5,
                  "Kingma & Welling 2014"),
    CookbookEntry("WGAN-clip", ("euclidean",), "none", ("none",), ("deterministic",), WGAN,
                  {"mode": "clip"}, "sup_{‖f‖_L ≤ 1} E f(X) − E f(G(Z)) = W1, weights clipped", 6,
                  "Arjovsky et al. 2017"),
    CookbookEntry("WGAN-GP", ("euclidean",), "none", ("none",), ("deterministic",), WGAN,
                  {"mode": "gp"}, "sup_f E f(X) − E f(G(Z)) − λ_gp·E(‖∇f(X̂)‖ − 1)²", 6,
                  "Gulrajani et al. 2017"),
)

_COST_TEXT = {"sqeuclidean": "‖x−y‖²", "euclidean": "‖x−y‖", "l1": "‖x−y‖₁", "nll": "−log p_G(x|z)"}
_DIV_TEXT = {"mmd": "MMD (IMQ kernel)", "gan": "JS (latent GAN)", "kl": "KL per sample", "none": "none (critic on X)"}


def cookbook_table() -> list[dict[str, str]]:
    """The cookbook as rows of strings, ready for a markdown table (Chapter 7)."""
    return [{"recipe": e.name,
             "cost c": ", ".join(_COST_TEXT[c] for c in e.costs),
             "latent divergence D_Z": _DIV_TEXT[e.divergence],
             "encoder": " or ".join(e.encoders),
             "decoder": " or ".join(e.decoders),
             "objective": e.objective,
             "class": f"{e.recipe.__name__}({', '.join(f'{k}={v!r}' for k, v in e.options.items())})",
             "chapter": str(e.chapter),
             "reference": e.reference} for e in COOKBOOK]


def cookbook_lookup(cost: str, divergence: str, encoder: str = "deterministic",
                    decoder: str = "deterministic") -> list[CookbookEntry]:
    """Recipes for a (cost, latent divergence, encoder, decoder) choice (Chapter 7).

    Several rows can match: (‖x−y‖², GAN) gives both WAE-GAN and AAE, which is
    the equivalence of Chapter 4. Raises ``ValueError`` for unknown names or
    when no recipe matches.
    """
    _choice(cost, "cost", COSTS + ("nll",))
    _choice(divergence, "divergence", tuple(_DIV_TEXT))
    _choice(encoder, "encoder", ENCODER_KINDS + ("none",))
    _choice(decoder, "decoder", DECODER_KINDS)
    rows = [e for e in COOKBOOK if cost in e.costs and divergence == e.divergence
            and encoder in e.encoders and decoder in e.decoders]
    if not rows:
        raise ValueError(f"no recipe in the cookbook for cost={cost!r}, divergence={divergence!r}, "
                         f"encoder={encoder!r}, decoder={decoder!r}")
    return rows


def build_recipe(name: str, x_shape=(1, 28, 28), z_dim: int = 8, width: int | None = None,
                 adversary_width: int = 512, **kwargs) -> Recipe:
    """Build a cookbook recipe by name with the paper's networks (Chapter 7).

    ``name``: one of the :data:`COOKBOOK` names (case-insensitive). Images
    (``x_shape`` of length 3) get the DCGAN-style networks with
    ``base_channels=width`` (default 128, the paper's); vectors (toys) get MLPs
    with two hidden layers of ``width`` (default 128). Encoders are
    deterministic for WAE/AAE and Gaussian for the VAE; the VAE decoder is
    Bernoulli for images and Gaussian (``decoder_sigma2``, default 0.1) for
    vectors. Other keyword arguments go to the recipe's constructor.
    """
    names = {e.name.lower(): e for e in COOKBOOK}
    if not isinstance(name, str) or name.lower() not in names:
        raise ValueError(f"name must be one of {[e.name for e in COOKBOOK]}, got {name!r}")
    entry = names[name.lower()]
    x_shape = _shape(x_shape)
    image = len(x_shape) == 3
    width = 128 if width is None else _int(width, "width")
    sigma2 = kwargs.pop("decoder_sigma2", 0.1)
    enc_kind = "gaussian" if entry.recipe is VAE else "deterministic"
    dec_kind = "deterministic" if entry.recipe is not VAE else ("bernoulli" if image else "gaussian")
    if image:
        c, h, w = x_shape
        if h != w:
            raise ValueError(f"image x_shape must be square, got {x_shape}")
        dec = ConvDecoder(z_dim, dec_kind, width, c, h, "sigmoid", sigma2 if dec_kind == "gaussian" else 1.0)
        enc = ConvEncoder(z_dim, enc_kind, width, c, h) if entry.recipe is not WGAN else None
        critic = ConvCritic(width, c, h) if entry.recipe is WGAN else None
    else:
        dec = MLPDecoder(z_dim, x_shape, (width, width), dec_kind,
                         sigma2=sigma2 if dec_kind == "gaussian" else 1.0)
        enc = MLPEncoder(x_shape, z_dim, (width, width), enc_kind) if entry.recipe is not WGAN else None
        critic = mlp(math.prod(x_shape), 1, (width, width, width), flatten=len(x_shape) > 1)
    options = {**entry.options, **kwargs}
    if entry.recipe is WGAN:
        return WGAN(dec, critic, **options)
    if entry.recipe is VAE:
        return VAE(enc, dec, **options)
    if entry.recipe is AAE or options.get("penalty") == "gan":
        options.setdefault("adversary", latent_adversary(z_dim, adversary_width))
    return entry.recipe(enc, dec, **options)
