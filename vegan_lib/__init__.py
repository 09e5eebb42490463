"""vegan_lib: the small PyTorch library behind the VEGAN book.

Modules are named after the concepts of "From optimal transport to generative
modeling: the VEGAN cookbook" (Bousquet et al., 2017) and "Wasserstein
Auto-Encoders" (Tolstikhin et al., 2018), one concept per module:

- :mod:`vegan_lib.costs`: transport costs c(x, y), paired and pairwise (Chapters 1, 3)
- :mod:`vegan_lib.ot`: optimal transport over POT, exact and differentiable (Chapters 1, 2, 3, 6)
- :mod:`vegan_lib.penalties`: latent divergences D_Z: MMD, sliced W, Sinkhorn, latent GAN, KL; gradient penalty
- :mod:`vegan_lib.networks`: encoders, decoders, critics, the latent adversary (Chapters 3-7)
- :mod:`vegan_lib.recipes`: the objectives WAE, AAE, VAE, WGAN as phases of a training step (Chapters 3-7)
- :mod:`vegan_lib.cookbook`: the table of recipes and :func:`~vegan_lib.cookbook.build_recipe` (Chapter 7)
- :mod:`vegan_lib.train`: the trainer: optimisation step, checkpoints, divergence stop, DDP (Chapters 3-7)
- :mod:`vegan_lib.protocol`: the experiment protocol, every recipe's settings as data, profiles quick/cpu/gpu
- :mod:`vegan_lib.reference`: reference runs of the protocol, trained once and cached (Chapters 3-7)
- :mod:`vegan_lib.baselines`: the mean-image predictor, the trivial model every training claim must beat
- :mod:`vegan_lib.checks`: the chapters' training checks as functions (Chapters 5, 7)
- :mod:`vegan_lib.ledger`: every claim of a chapter's Checks, asserted and recorded (all chapters; the ledger appendix)
- :mod:`vegan_lib.distributed`: multi-process training under torchrun
- :mod:`vegan_lib.metrics`: reconstruction, sharpness, MMD to the prior, W2, Fréchet distance (Chapters 3, 5, 7)
- :mod:`vegan_lib.classifier`: the MNIST feature classifier of the Fréchet distance (Chapters 5, 7)
- :mod:`vegan_lib.data`: MNIST (embedded or full) and 2-D toys
- :mod:`vegan_lib.plot`: labelled figures, sample and reconstruction grids
- :mod:`vegan_lib.runtime`: quick mode, device, seeds, evaluation mode
- :mod:`vegan_lib.sweep`: metrics recorded by chapters, parameter sweeps with papermill (Chapter 3)

``device=None`` means the same everywhere: *no move* (a model stays where it is, new tensors
are created on the CPU); ``"auto"`` picks CUDA when there is one. Wrong types raise
``TypeError``, wrong values ``ValueError``, and the message names the argument.
:mod:`vegan_lib.models` is the deprecated home of networks, recipes and the cookbook.

The runtime helpers are re-exported at the top level.
"""
from . import costs, data, ot, plot, runtime, sweep
from . import penalties, networks, recipes, cookbook, distributed, train, classifier, metrics
from . import baselines, checks, ledger, protocol
from . import models  # deprecated alias module
from .runtime import describe_device, eval_mode, get_device, quick_mode, set_seed, show_source

__version__ = "0.2.0"


def __getattr__(name: str):
    # vegan_lib.reference is imported on first use, so that `python -m vegan_lib.reference` runs it cleanly
    if name == "reference":
        import importlib

        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module 'vegan_lib' has no attribute {name!r}")

__all__ = ["costs", "data", "ot", "plot", "runtime", "sweep", "penalties", "networks", "recipes", "cookbook",
           "distributed", "train", "classifier", "metrics", "baselines", "checks", "ledger", "protocol", "reference", "describe_device", "eval_mode", "get_device",
           "quick_mode", "set_seed", "show_source", "__version__"]
