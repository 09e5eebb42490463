"""The recipes of the VEGAN cookbook: objectives that *describe* their optimisation, Chapters 3-7.

A recipe owns its networks and the prior P_Z = N(0, σ_z² I), declares its optimizer groups
(:meth:`Recipe.optimizer_specs`) and describes one training step as a list of
:class:`Phase` objects (:meth:`Recipe.phases`): which optimizer group, which loss, how many
times per step, whether each repetition takes a fresh minibatch, and a hook to run after the
optimizer step. A phase's loss function only computes: it returns the phase's loss
dictionary and never calls ``backward()`` or ``step()``. The
:class:`~vegan_lib.train.Trainer` runs the phases: the forward pass under autocast when asked,
then backward, gradient clipping, the optimizer step and the post-step hook outside it, and
wraps the recipe in ``DistributedDataParallel`` under ``torchrun``.

Loss dictionaries have one schema everywhere: ``"loss"`` is the weighted total that the
phase minimises, every other entry an **unweighted** term (``recon``, ``mmd``, ``disc``...).
The trainer logs a phase's total as ``<phase>_loss`` and its terms by name;
:meth:`Recipe.loss` returns the same columns at the current parameters.

=========  =====================================  ==================================
recipe     phases (optimizer group)               terms
=========  =====================================  ==================================
WAE        ae: recon + λ·D_Z  [+ adv: λ·disc]     recon, mmd | sw | sinkhorn | gan, disc
VAE        ae: nll + β·kl                         nll, kl
AAE        ae: recon; adv: disc; gen: gan         recon, disc, gan
WGAN       critic (× n_critic, clip hook); gen    w1, gp
=========  =====================================  ==================================

Costs are per-sample sums (:func:`vegan_lib.costs.paired_cost`) averaged over the minibatch,
times ``cost_scale`` (default 1). The WAE code uses 0.05·‖x − y‖², so its λ equals λ_raw / 20:
pass ``cost_scale=0.05`` to copy it.

Why this module is over 400 lines: it holds the one concept "objective" whole — the base class
with its optimizer and phase machinery and the four objectives that share it, each a few dozen
lines (most of them docstrings); splitting them would scatter one family over five files. The
networks live in :mod:`vegan_lib.networks`, the cookbook table in :mod:`vegan_lib.cookbook`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from . import _validation as _v
from . import distributed as _dist
from . import penalties
from .costs import COSTS, paired_cost
from .networks import DECODER_KINDS, ENCODER_KINDS, Decoder, Encoder, latent_adversary

__all__ = ["OptimizerSpec", "Phase", "Recipe", "WAE", "VAE", "AAE", "WGAN", "LossFn"]

#: A phase's loss function: (x, ctx) -> {"loss": total, term: unweighted value, ...}.
LossFn = Callable[[torch.Tensor, dict], dict]

_OPTIMIZERS = ("adam", "rmsprop", "sgd")


# ----------------------------------------------------------------------------- optimizers and phases

@dataclass
class OptimizerSpec:
    """One optimizer group of a recipe: its parameters and default settings (Chapter 3).

    ``algorithm`` is ``"adam"``, ``"rmsprop"`` or ``"sgd"``; ``lr`` the learning rate;
    ``betas`` and ``eps`` Adam's (``eps`` is also RMSprop's); ``momentum`` SGD's and RMSprop's.
    :meth:`build` accepts the same names as overrides, e.g. ``build(eps=1e-12)``.
    """

    params: list
    algorithm: str = "adam"
    lr: float = 1e-3
    betas: tuple = (0.5, 0.999)
    eps: float = 1e-8
    momentum: float = 0.0

    def build(self, **overrides) -> torch.optim.Optimizer:
        """The torch optimizer over ``params`` with these settings (``overrides`` win)."""
        unknown = set(overrides) - {"algorithm", "lr", "betas", "eps", "momentum"}
        if unknown:
            raise ValueError(f"unknown optimizer settings {sorted(unknown)}; use algorithm, lr, betas, eps, momentum")
        algorithm = _v.choice(overrides.get("algorithm", self.algorithm), "algorithm", _OPTIMIZERS)
        lr = _v.number(overrides.get("lr", self.lr), "lr", positive=True)
        eps = _v.number(overrides.get("eps", self.eps), "eps", positive=True)
        momentum = _v.number(overrides.get("momentum", self.momentum), "momentum", nonnegative=True)
        if algorithm == "adam":
            betas = tuple(overrides.get("betas", self.betas))
            if len(betas) != 2 or not all(0 <= _v.number(b, "betas") < 1 for b in betas):
                raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
            return torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps)
        if algorithm == "rmsprop":
            return torch.optim.RMSprop(self.params, lr=lr, eps=eps, momentum=momentum)
        return torch.optim.SGD(self.params, lr=lr, momentum=momentum)


@dataclass(frozen=True)
class Phase:
    """One phase of a recipe's training step (Chapters 3-7).

    ``name``: the phase (its total is logged as ``<name>_loss``); ``optimizer``: the optimizer
    group it steps; ``loss``: a :data:`LossFn` ``(x, ctx) -> dict`` that computes and never
    steps; ``repeats``: how many times per training step (WGAN: ``n_critic`` critic phases);
    ``new_batch``: whether each repetition consumes a fresh minibatch (False: reuse the last
    one, e.g. the WGAN generator phase); ``post_step``: a hook run right after each optimizer
    step (WGAN weight clipping). ``ctx`` is a dict shared by the phases of one step (e.g.
    WAE-GAN's adversary reuses the codes of the auto-encoder phase) and holds fixed noise
    when :meth:`Recipe.loss` is called with some.
    """

    name: str
    optimizer: str
    loss: LossFn
    repeats: int = 1
    new_batch: bool = True
    post_step: Callable[[], None] | None = field(default=None, compare=False)


# ----------------------------------------------------------------------------- the base class

class Recipe(nn.Module):
    """Base class of the cookbook's objectives (Chapter 7; how to add one: :mod:`vegan_lib.cookbook`).

    Subclasses implement :meth:`optimizer_specs` and :meth:`phases`; the rest is shared:
    :meth:`loss` (every phase's dictionary at the current parameters), :meth:`make_optimizers`,
    the prior, ``encode``/``decode``/``reconstruct``/``sample``. Calling the module,
    ``recipe(phase_name, x, ctx)``, runs one phase's loss: this is what the trainer calls, so
    that ``DistributedDataParallel`` sees the forward pass.
    """

    name = "recipe"

    def __init__(self, z_dim: int, sigma_z: float = 1.0):
        super().__init__()
        self.z_dim = _v.integer(z_dim, "z_dim")
        self.sigma_z = _v.number(sigma_z, "sigma_z", positive=True)

    # -- to implement
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        """Optimizer groups: name → :class:`OptimizerSpec`."""
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        """The phases of one training step, in order."""
        raise NotImplementedError

    def compile_targets(self) -> tuple[str, ...]:
        """Names of the child modules that ``Trainer(compile=True)`` may ``torch.compile``."""
        return tuple(name for name, _ in self.named_children())

    # -- shared
    @property
    def batches_per_step(self) -> int:
        """How many minibatches one training step consumes (WGAN: one per critic step)."""
        return sum(p.repeats for p in self.phases() if p.new_batch) or 1

    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one data point, e.g. (1, 28, 28)."""
        return self.decoder.x_shape

    def forward(self, phase: str, x: torch.Tensor, ctx: dict | None = None) -> dict:
        """The loss dictionary of phase ``phase`` on batch ``x`` (what the trainer calls)."""
        table = self.__dict__.get("_phase_table")
        if table is None:
            table = self.__dict__["_phase_table"] = {p.name: p for p in self.phases()}
        if phase not in table:
            raise ValueError(f"phase must be one of {tuple(table)} for {type(self).__name__}, got {phase!r}")
        return table[phase].loss(x, {} if ctx is None else ctx)

    def loss(self, x: torch.Tensor, **noise) -> dict[str, torch.Tensor]:
        """Every phase's loss dictionary on batch ``x`` at the current parameters, no update.

        Keys: ``<phase>_loss`` (the phase's weighted total) and the unweighted terms, the
        columns the trainer logs. Keyword arguments fix the noise (``z_prior``, ``eps``,
        ``gp_eps``) so that tests can compute the objective by hand.
        """
        _v.batch(x, self.x_shape)
        ctx, out = dict(noise), {}
        for phase in self.phases():
            terms = self(phase.name, x, ctx)
            out[f"{phase.name}_loss"] = terms["loss"]
            out.update({k: v for k, v in terms.items() if k != "loss"})
        return out

    def train_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, torch.Tensor]:
        """Deprecated: the trainer owns the step; use :func:`vegan_lib.train.train_step`."""
        import warnings

        from .train import train_step

        warnings.warn("Recipe.train_step is deprecated; use vegan_lib.train.train_step(recipe, x, optimizers)",
                      DeprecationWarning, stacklevel=2)
        return train_step(self, x, optimizers)

    def make_optimizers(self, overrides: dict | None = None) -> dict[str, torch.optim.Optimizer]:
        """Build the recipe's optimizers, e.g. ``make_optimizers({"ae": {"lr": 1e-4, "eps": 1e-12}})``."""
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
        """n samples of the prior P_Z = N(0, σ_z² I_{d_z}) (Chapter 3, eq. (POT))."""
        _v.integer(n, "n")
        device, dtype = self._device_dtype()
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, self.z_dim, generator=generator, device=gen_device, dtype=dtype)
        return z.to(device) * self.sigma_z

    def _prior_like(self, z: torch.Tensor, ctx: dict, gathered: bool = False) -> torch.Tensor:
        """Prior samples for the rows of ``z`` (or ``ctx["z_prior"]``). Under DDP, ``z`` is this
        process's shard of the batch (its rows of a global draw), or with ``gathered`` the
        whole global batch (the same draw on every process)."""
        if ctx.get("z_prior") is not None:
            return ctx["z_prior"]
        draw = torch.randn if gathered else _dist.randn
        return draw(z.shape, device=z.device, dtype=z.dtype) * self.sigma_z

    def _codes(self, x: torch.Tensor, ctx: dict) -> torch.Tensor:
        """z̃ ~ Q(Z|x): the mean of a deterministic encoder, μ + σ·ε for a Gaussian one."""
        mu, logvar = self.encoder(x)
        if logvar is None:
            return mu
        eps = ctx.get("eps")
        if eps is None:
            eps = _dist.randn(mu.shape, device=mu.device, dtype=mu.dtype)
        return self.encoder.reparametrize(mu, logvar, eps)

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Codes of x: the encoder mean, or a draw z̃ ~ Q(Z|x) if ``sample``."""
        _v.batch(x, self.x_shape)
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


def _check_pair(encoder, decoder, encoder_kinds=ENCODER_KINDS, decoder_kinds=DECODER_KINDS, who="recipe"):
    _v.module(encoder, "encoder", Encoder, "vegan_lib.networks.Encoder")
    _v.module(decoder, "decoder", Decoder, "vegan_lib.networks.Decoder")
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


def _check_cost(cost, decoder):
    _v.choice(cost, "cost", COSTS + ("nll",))
    if cost == "nll" and decoder.kind == "deterministic":
        raise ValueError("cost='nll' needs a Gaussian or Bernoulli decoder")
    return cost


def _adam(params, lr, betas) -> OptimizerSpec:
    return OptimizerSpec(list(params), "adam", _v.number(lr, "lr", positive=True), tuple(betas))


class _AutoEncoder(Recipe):
    """Shared by WAE and AAE: encoder, decoder, cost and the reconstruction term."""

    def __init__(self, encoder, decoder, *, cost, sigma_z, cost_scale, lr, betas, who):
        _check_pair(encoder, decoder, who=who)
        super().__init__(encoder.z_dim, sigma_z)
        self.cost = _check_cost(cost, decoder)
        self.cost_scale = _v.number(cost_scale, "cost_scale", positive=True)
        self.lr, self.betas = _v.number(lr, "lr", positive=True), tuple(betas)
        self.encoder, self.decoder = encoder, decoder

    def _recon(self, x, z):
        """Mean over the batch of cost_scale · c(x, G(z)) (or −log p_G(x|z) when cost='nll')."""
        per = self.decoder.nll(x, z) if self.cost == "nll" else paired_cost(x, self.decoder(z), self.cost)
        return self.cost_scale * per.mean()

    def _ae_spec(self):
        return _adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), self.lr, self.betas)


# ----------------------------------------------------------------------------- WAE

class WAE(_AutoEncoder):
    """POT / Wasserstein auto-encoder (Chapter 3, eq. (POT); WAE eq. 4, Algorithms 1-2).

    Minimises  (1/n) Σ_i cost_scale·c(x_i, G(z̃_i)) + λ·D_Z(Q_Z, P_Z),  z̃_i ~ Q(Z|x_i).

    ``penalty`` names D_Z: a sample-based divergence of :data:`vegan_lib.penalties.LATENT_PENALTIES`
    between the codes and as many prior samples (``"mmd"``: unbiased MMD², IMQ kernel with
    C = 2·d_z·σ_z² by default, ``kernel``/``scale``/``multiscale`` passed on, WAE Algorithm 2;
    ``"sw"``: sliced Wasserstein, the SWAE of Kolouri et al. 2019; ``"sinkhorn"``: the Sinkhorn
    divergence; options of the last two in ``penalty_options``), one phase ``ae``; or
    ``"gan"``: D_Z = JS estimated by the latent ``adversary`` (default
    :func:`~vegan_lib.networks.latent_adversary`, 4 × FC512), two phases as in the WAE code:
    ``ae`` on recon + λ·(−log D(z̃)) (non-saturating), then ``adv`` on λ·[CE(D(z), 1) + CE(D(z̃), 0)]
    with the same codes, detached (Algorithm 1).

    ``cost``: ``"sqeuclidean"`` (the paper's), ``"euclidean"``, ``"l1"`` on the decoder mean,
    or ``"nll"`` (−log p_G(x|z) of a Gaussian/Bernoulli decoder). Defaults follow the WAE paper
    for MNIST: λ = 10, σ_z = 1, Adam lr 1e-3 (adversary 5e-4), β = (0.5, 0.999).
    """

    name = "WAE"
    PENALTIES = ("mmd", "gan", "sw", "sinkhorn")
    _NAMES = {"mmd": "WAE-MMD", "gan": "WAE-GAN", "sw": "SWAE", "sinkhorn": "WAE-Sinkhorn"}

    def __init__(self, encoder: Encoder, decoder: Decoder, *, penalty: str = "mmd", cost: str = "sqeuclidean",
                 lam: float = 10.0, sigma_z: float = 1.0, kernel: str = "imq", scale: float | None = None,
                 multiscale: bool = False, penalty_options: dict | None = None, adversary: nn.Module | None = None,
                 cost_scale: float = 1.0, lr: float = 1e-3, adv_lr: float = 5e-4, betas=(0.5, 0.999)):
        super().__init__(encoder, decoder, cost=cost, sigma_z=sigma_z, cost_scale=cost_scale, lr=lr, betas=betas,
                         who="WAE")
        self.penalty = _v.choice(penalty, "penalty", self.PENALTIES)
        self.lam = _v.number(lam, "lam", nonnegative=True)
        self.adv_lr = _v.number(adv_lr, "adv_lr", positive=True)
        if penalty_options is not None and not isinstance(penalty_options, dict):
            raise TypeError(f"penalty_options must be a dict, got {type(penalty_options).__name__}")
        options = dict(penalty_options or {})
        self.kernel = _v.choice(kernel, "kernel", penalties.KERNELS)
        self.scale = None if scale is None else _v.number(scale, "scale", positive=True)
        self.multiscale = _v.boolean(multiscale, "multiscale")
        if penalty != "mmd" and (kernel != "imq" or scale is not None or multiscale):
            raise ValueError(f"kernel, scale and multiscale are options of penalty='mmd', not {penalty!r}")
        if penalty == "mmd":
            clash = set(options) & {"kernel", "scale", "multiscale"}
            if clash:
                raise ValueError(f"give {sorted(clash)} as WAE arguments, not in penalty_options")
            options = {"kernel": self.kernel, "scale": self.scale, "multiscale": self.multiscale, **options}
        if penalty in penalties.LATENT_PENALTIES and "sigma_z" in penalties.penalty_parameters(penalty):
            options.setdefault("sigma_z", self.sigma_z)  # the prior's scale sets the penalty's default scale
        self.penalty_options = penalties.check_penalty_options(penalty, options)
        if penalty == "gan":
            self.adversary = adversary if adversary is not None else latent_adversary(self.z_dim)
            _v.module(self.adversary, "adversary")
        elif adversary is not None:
            raise ValueError("adversary is only used with penalty='gan'")
        self.name = self._NAMES[penalty]

    def optimizer_specs(self):
        specs = {"ae": self._ae_spec()}
        if self.penalty == "gan":
            specs["adv"] = _adam(self.adversary.parameters(), self.adv_lr, self.betas)
        return specs

    def phases(self):
        if self.penalty == "gan":
            return [Phase("ae", "ae", self._ae_gan_loss), Phase("adv", "adv", self._adv_loss, new_batch=False)]
        return [Phase("ae", "ae", self._ae_loss)]

    def _ae_loss(self, x, ctx):
        z = self._codes(x, ctx)
        recon = self._recon(x, z)
        codes = _dist.gather(z)                              # the global batch under DDP
        prior = self._prior_like(codes, ctx, gathered=True)
        pen = penalties.LATENT_PENALTIES[self.penalty](codes, prior, **self.penalty_options)
        return {"loss": recon + self.lam * pen, "recon": recon, self.penalty: pen}

    def _ae_gan_loss(self, x, ctx):
        z = self._codes(x, ctx)
        ctx["codes"] = z.detach()
        recon = self._recon(x, z)
        gan = penalties.gan_encoder_loss(self.adversary(z))
        return {"loss": recon + self.lam * gan, "recon": recon, "gan": gan}

    def _adv_loss(self, x, ctx):
        z = ctx["codes"] if "codes" in ctx else self._codes(x, ctx).detach()
        disc = penalties.gan_discriminator_loss(self.adversary(self._prior_like(z, ctx)), self.adversary(z))
        return {"loss": self.lam * disc, "disc": disc}


# ----------------------------------------------------------------------------- VAE

class VAE(Recipe):
    """Variational auto-encoder: minimises the negative ELBO (Chapter 5, eq. (ELBO)).

    loss = (1/n) Σ_i [ −log p_G(x_i | z̃_i) + β·KL(Q(Z|x_i) ‖ N(0, σ_z² I)) ],
    z̃_i = μ(x_i) + σ(x_i)·ε (reparametrisation), KL in closed form
    (:func:`vegan_lib.penalties.kl_gaussian`); β = 1 is the VAE. Needs a Gaussian encoder and
    a Gaussian or Bernoulli decoder. One phase ``ae`` (Adam, WAE-paper defaults).
    """

    name = "VAE"

    def __init__(self, encoder: Encoder, decoder: Decoder, *, sigma_z: float = 1.0, beta: float = 1.0,
                 lr: float = 1e-3, betas=(0.5, 0.999)):
        _check_pair(encoder, decoder, ("gaussian",), ("gaussian", "bernoulli"), "VAE")
        super().__init__(encoder.z_dim, sigma_z)
        self.beta = _v.number(beta, "beta", nonnegative=True)
        self.lr, self.betas = _v.number(lr, "lr", positive=True), tuple(betas)
        self.encoder, self.decoder = encoder, decoder

    def optimizer_specs(self):
        return {"ae": _adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), self.lr, self.betas)}

    def phases(self):
        return [Phase("ae", "ae", self._elbo_loss)]

    def _elbo_loss(self, x, ctx):
        mu, logvar = self.encoder(x)
        eps = ctx.get("eps")
        if eps is None:
            eps = _dist.randn(mu.shape, device=mu.device, dtype=mu.dtype)
        z = self.encoder.reparametrize(mu, logvar, eps)
        nll = self.decoder.nll(x, z).mean()
        kl = penalties.kl_gaussian(mu, logvar, self.sigma_z).mean()
        return {"loss": nll + self.beta * kl, "nll": nll, "kl": kl}


# ----------------------------------------------------------------------------- AAE

class AAE(_AutoEncoder):
    """Adversarial auto-encoder as published (Chapter 4; Makhzani et al. 2016, §2).

    Three phases per minibatch, three optimizer groups:
    ``ae``: (encoder, decoder) minimise (1/n) Σ cost_scale·c(x_i, G(z̃_i)); ``adv``: the
    discriminator minimises CE(D(z), 1) + CE(D(z̃), 0), z ~ P_Z, z̃ from the updated encoder;
    ``gen``: the encoder, as generator, minimises CE(D(z̃), 1) = −mean log D(z̃). There is no
    explicit λ: the trade-off lives in the learning rates (ae 1e-3, adv and gen 5e-4). With the
    squared cost and a latent GAN this is WAE-GAN's objective (Chapter 4).
    """

    name = "AAE"

    def __init__(self, encoder: Encoder, decoder: Decoder, adversary: nn.Module | None = None, *,
                 cost: str = "sqeuclidean", sigma_z: float = 1.0, cost_scale: float = 1.0, lr: float = 1e-3,
                 adv_lr: float = 5e-4, gen_lr: float = 5e-4, betas=(0.5, 0.999)):
        super().__init__(encoder, decoder, cost=cost, sigma_z=sigma_z, cost_scale=cost_scale, lr=lr, betas=betas,
                         who="AAE")
        self.adv_lr = _v.number(adv_lr, "adv_lr", positive=True)
        self.gen_lr = _v.number(gen_lr, "gen_lr", positive=True)
        self.adversary = adversary if adversary is not None else latent_adversary(self.z_dim)
        _v.module(self.adversary, "adversary")

    def optimizer_specs(self):
        return {"ae": self._ae_spec(),
                "adv": _adam(self.adversary.parameters(), self.adv_lr, self.betas),
                "gen": _adam(self.encoder.parameters(), self.gen_lr, self.betas)}

    def phases(self):
        return [Phase("ae", "ae", self._recon_loss), Phase("adv", "adv", self._disc_loss, new_batch=False),
                Phase("gen", "gen", self._gen_loss, new_batch=False)]

    def _recon_loss(self, x, ctx):
        recon = self._recon(x, self._codes(x, ctx))
        return {"loss": recon, "recon": recon}

    def _disc_loss(self, x, ctx):
        with torch.no_grad():
            z_fake = self._codes(x, ctx)
        disc = penalties.gan_discriminator_loss(self.adversary(self._prior_like(z_fake, ctx)), self.adversary(z_fake))
        return {"loss": disc, "disc": disc}

    def _gen_loss(self, x, ctx):
        gan = penalties.gan_encoder_loss(self.adversary(self._codes(x, ctx)))
        return {"loss": gan, "gan": gan}


# ----------------------------------------------------------------------------- WGAN

class WGAN(Recipe):
    """Wasserstein GAN: the Kantorovich–Rubinstein dual of W1 (Chapter 6, eq. (KR), (WGAN)).

    Phase ``critic`` (``n_critic`` times per step, each on its own real minibatch): the critic
    f minimises E f(G(Z)) − E f(X) (term ``w1`` = E f(X) − E f(G(Z)), the dual estimate of W1);
    ``mode="clip"``: weights clipped to [−clip, clip] after each critic step (the phase's
    post-step hook), RMSprop lr 5e-5 (Arjovsky et al. 2017); ``mode="gp"``: plus
    gp_weight·E(‖∇f(x̂)‖ − 1)² (term ``gp``, :func:`vegan_lib.penalties.gradient_penalty`), Adam lr
    1e-4, β = (0.5, 0.9) (Gulrajani et al. 2017's code). Phase ``gen`` (reusing the last
    minibatch's size): the generator minimises −E f(G(Z)).

    ``train_generator=False`` keeps only the critic phase (and optimizer): a neural estimate of W1
    between the data and a fixed model (Chapter 6, §6.4). ``codes`` (m, d_z): latent points that
    replace the prior, drawn uniformly with replacement, so that P_G is the fixed sample
    G(codes) rather than G#N(0, σ_z² I).
    """

    name = "WGAN"
    MODES = ("clip", "gp")

    def __init__(self, generator: Decoder, critic: nn.Module, *, mode: str = "gp", n_critic: int = 5,
                 clip: float = 0.01, gp_weight: float = 10.0, sigma_z: float = 1.0, lr: float | None = None,
                 betas=None, train_generator: bool = True, codes: torch.Tensor | None = None):
        _v.module(generator, "generator", Decoder, "vegan_lib.networks.Decoder")
        if generator.kind != "deterministic":
            raise ValueError(f"WGAN needs a deterministic generator, got kind {generator.kind!r}")
        _v.module(critic, "critic")
        z_dim = getattr(generator, "z_dim", None)
        if z_dim is None:
            raise ValueError("generator must have a z_dim attribute (use MLPDecoder or ConvDecoder)")
        super().__init__(z_dim, sigma_z)
        self.mode = _v.choice(mode, "mode", self.MODES)
        self.n_critic = _v.integer(n_critic, "n_critic")
        self.clip = _v.number(clip, "clip", positive=True)
        self.gp_weight = _v.number(gp_weight, "gp_weight", nonnegative=True)
        self.lr = _v.number(lr, "lr", positive=True) if lr is not None else (5e-5 if mode == "clip" else 1e-4)
        self.betas = tuple(betas) if betas is not None else (0.5, 0.9)
        self.generator, self.critic = generator, critic
        self.name = "WGAN-clip" if mode == "clip" else "WGAN-GP"
        self.train_generator = _v.boolean(train_generator, "train_generator")
        if codes is not None:
            _v.codes(codes, "codes")
            if codes.shape[1] != z_dim:
                raise ValueError(f"codes must have shape (m, {z_dim}) (the generator's z_dim), got {tuple(codes.shape)}")
        self.register_buffer("codes", None if codes is None else codes.detach().clone())

    @property
    def x_shape(self):
        return self.generator.x_shape

    def optimizer_specs(self):
        algo = "rmsprop" if self.mode == "clip" else "adam"
        specs = {"critic": OptimizerSpec(list(self.critic.parameters()), algo, self.lr, self.betas)}
        if self.train_generator:
            specs["gen"] = OptimizerSpec(list(self.generator.parameters()), algo, self.lr, self.betas)
        return specs

    def phases(self):
        hook = self.clip_critic if self.mode == "clip" else None
        critic = Phase("critic", "critic", self.critic_loss, repeats=self.n_critic, post_step=hook)
        return [critic, Phase("gen", "gen", self._gen_loss, new_batch=False)] if self.train_generator else [critic]

    def compile_targets(self):
        # torch.compile has no double backward, which the gradient penalty needs
        return ("generator",) if self.mode == "gp" else ("generator", "critic")

    def decode(self, z):
        return self.generator(z)

    def encode(self, x, sample=False):
        raise NotImplementedError("a WGAN has no encoder (Chapter 6: the critic is the dual variable)")

    def reconstruct(self, x):
        raise NotImplementedError("a WGAN has no encoder, so it cannot reconstruct")

    def _z(self, n, ctx):
        z = ctx.get("z")
        if z is None and self.codes is not None:  # draws, with replacement, of the fixed codes
            m = self.codes.shape[0]
            u = _dist.rand((n,), device=self.codes.device, dtype=torch.float64)
            z = self.codes[(u * m).long().clamp_(max=m - 1)]
        elif z is None:
            device, dtype = self._device_dtype()
            z = _dist.randn((n, self.z_dim), device=device, dtype=dtype) * self.sigma_z
        return z

    def critic_loss(self, x: torch.Tensor, ctx: dict | None = None) -> dict:
        """The critic's loss dictionary on a real batch ``x`` (Chapter 6, eq. (WGAN)): ``loss`` =
        −w1 (+ gp_weight·gp), ``w1`` = E f(x) − E f(G(z)), ``gp`` in mode ``"gp"``; the loss of
        the ``critic`` phase, after whose optimizer step the trainer runs :meth:`clip_critic` in
        mode ``"clip"``."""
        ctx = {} if ctx is None else ctx
        with torch.no_grad():
            fake = self.generator(self._z(x.shape[0], ctx))
        w1 = self.critic(x).mean() - self.critic(fake).mean()
        out = {"loss": -w1, "w1": w1}
        if self.mode == "gp":
            eps = ctx.get("gp_eps")
            if eps is None:
                eps = _dist.rand((x.shape[0],), device=x.device, dtype=x.dtype)
            gp = penalties.gradient_penalty(self.critic, x, fake, eps)
            out["loss"] = -w1 + self.gp_weight * gp
            out["gp"] = gp
        return out

    def clip_critic(self) -> None:
        """Clip every critic weight to [−clip, clip] (Chapter 6, WGAN's Lipschitz constraint)."""
        with torch.no_grad():
            for p in self.critic.parameters():
                p.clamp_(-self.clip, self.clip)

    def _gen_loss(self, x, ctx):
        gen = -self.critic(self.generator(self._z(x.shape[0], ctx))).mean()
        return {"loss": gen}
