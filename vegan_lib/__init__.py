"""vegan_lib: the small PyTorch library behind the VEGAN book.

Modules are named after the concepts of "From optimal transport to generative
modeling: the VEGAN cookbook" (Bousquet et al., 2017) and "Wasserstein
Auto-Encoders" (Tolstikhin et al., 2018):

- :mod:`vegan_lib.ot`: optimal transport over POT (Chapters 1, 2, 6)
- :mod:`vegan_lib.data`: MNIST (embedded or full) and 2-D toys
- :mod:`vegan_lib.plot`: labelled figures
- :mod:`vegan_lib.penalties`: latent divergences D_Z: MMD, latent GAN, KL; gradient penalty (Chapters 3-6)
- :mod:`vegan_lib.models`: networks, the recipes WAE, AAE, VAE, WGAN and the cookbook (Chapters 3-7)
- :mod:`vegan_lib.train`: one trainer with checkpoint/resume and divergence checks (Chapters 3-7)
- :mod:`vegan_lib.metrics`: reconstruction, sharpness, MMD to the prior, W2, Fréchet distance (Chapters 3, 5, 7)
- :mod:`vegan_lib.runtime`: quick mode, device, seeds
- :mod:`vegan_lib.sweep`: metrics recorded by chapters, parameter sweeps with papermill (Chapter 3)

The runtime helpers are re-exported at the top level.
"""
from . import data, ot, plot, runtime, sweep
from . import penalties, models, train, metrics
from .runtime import describe_device, get_device, quick_mode, set_seed, show_source

__version__ = "0.1.0"

__all__ = ["data", "ot", "plot", "runtime", "sweep", "penalties", "models", "train", "metrics", "describe_device", "get_device", "quick_mode",
           "set_seed", "show_source", "__version__"]
