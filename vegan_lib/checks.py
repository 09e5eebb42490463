"""The chapters' training checks as functions, so that a trivial model can be shown to fail them
(Chapters 5, 7).

A check returns :class:`Check` records (the claim in words, the measured value, the bound, and
whether it holds); :func:`require` raises ``AssertionError`` listing every failed one. The unit
tests feed the mean-image predictor (:class:`vegan_lib.baselines.MeanImage`) and constant models
through them and see them fail: a check that a trivial model passes proves nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from . import _validation as _v

__all__ = ["Check", "require", "beats_mean_image", "latent_penalty_matches_prior", "generative_story"]


@dataclass(frozen=True)
class Check:
    """One asserted claim: ``text``, the measured ``value``, the ``bound`` it must stay below
    (``relation="<"``) or above (``">"``), and ``passed``."""

    text: str
    value: float
    bound: float
    relation: str = "<"

    @property
    def passed(self) -> bool:
        return self.value < self.bound if self.relation == "<" else self.value > self.bound

    def __str__(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        return f"{mark} {self.text}: {self.value:.4g} {self.relation} {self.bound:.4g}"


def require(checks: Iterable[Check]) -> list[Check]:
    """Print every check and raise ``AssertionError`` naming the failed ones (Chapters 3-7)."""
    checks = list(checks)
    for c in checks:
        print(c)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise AssertionError("failed: " + "; ".join(str(c) for c in failed))
    return checks


def _metric(table, name, key):
    if name not in table or key not in table[name]:
        raise ValueError(f"metrics must hold {key!r} for {name!r}, got {sorted(table.get(name, {}))}")
    return _v.number(table[name][key], f"metrics[{name!r}][{key!r}]")


def beats_mean_image(metrics: Mapping[str, Mapping[str, float]], mean_image: Mapping[str, float], *,
                     keys=("FD",), factor: float = 0.5) -> list[Check]:
    """Every model is far better than the mean-image predictor (Chapters 3-7).

    For each model of ``metrics`` and each metric of ``keys`` (lower is better: ``"FD"``, ``"recon"``,
    ``"W2"``): metric < ``factor`` × the mean image's. The mean image fails it by construction
    (``factor`` < 1), and so does any model no better than it.
    """
    factor = _v.number(factor, "factor", positive=True)
    if factor >= 1:
        raise ValueError(f"factor must be below 1 (a model equal to the mean image would pass), got {factor}")
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    out = []
    for key in keys:
        base = _metric({"mean image": mean_image}, "mean image", key)
        out += [Check(f"{key}({name}) < {factor:g} × {key}(mean image)", _metric(metrics, name, key), factor * base)
                for name in metrics]
    return out


def latent_penalty_matches_prior(with_penalty: Mapping[str, float], without: Mapping[str, float], *,
                                 name: str = "WAE", factor: float = 0.1) -> list[Check]:
    """The latent penalty does its job (Chapters 3, 4, 7): the codes of the model trained with it are
    far closer to the prior, MMD²(Q_Z, P_Z) < ``factor`` × that of the same auto-encoder trained with
    λ = 0 (same seed, same initialization, same data order), and its samples are better,
    FD < FD(λ = 0). The default factor 0.1 also excludes the mean-image predictor, whose codes are a
    single point (its MMD² is about 0.4 × that of λ = 0 on MNIST). ``with_penalty`` and ``without`` hold ``"MMD"`` and ``"FD"``."""
    factor = _v.number(factor, "factor", positive=True)
    w, wo = {name: with_penalty}, {"λ = 0": without}
    return [Check(f"MMD²(Q_Z, P_Z) of {name} < {factor:g} × that of λ = 0", _metric(w, name, "MMD"),
                  factor * _metric(wo, "λ = 0", "MMD")),
            Check(f"FD({name}) < FD(λ = 0)", _metric(w, name, "FD"), _metric(wo, "λ = 0", "FD"))]


def generative_story(metrics: Mapping[str, Mapping[str, float]], mean_image: Mapping[str, float], *,
                     fd_margin: float = 0.9, baseline_factor: float = 0.5) -> list[Check]:
    """The WAE paper's story on MNIST for one seed (Chapter 7, the capstone's checks; Chapter 5).

    ``metrics[recipe]`` holds ``"FD"`` (classifier Fréchet distance of samples to held-out digits)
    and ``"sharpness"`` (mean Laplacian variance of samples) for the recipes trained with the same
    seed; ``mean_image`` the same for the mean-image predictor. Claims:

    - every recipe's FD is below ``baseline_factor`` × FD(mean image);
    - FD(WAE-MMD) and FD(WAE-GAN) are below ``fd_margin`` × FD(VAE);
    - VAE samples are blurrier than both WAEs' (lower sharpness).
    """
    fd_margin = _v.number(fd_margin, "fd_margin", positive=True)
    baseline_factor = _v.number(baseline_factor, "baseline_factor", positive=True)
    fd_mean = _metric({"mean image": mean_image}, "mean image", "FD")
    out = [Check(f"FD({name}) < {baseline_factor:g} × FD(mean image)", _metric(metrics, name, "FD"),
                 baseline_factor * fd_mean) for name in metrics]
    for wae in ("WAE-MMD", "WAE-GAN"):
        if wae in metrics and "VAE" in metrics:
            out.append(Check(f"FD({wae}) < {fd_margin:g} × FD(VAE)", _metric(metrics, wae, "FD"),
                             fd_margin * _metric(metrics, "VAE", "FD")))
            out.append(Check(f"sharpness(VAE) < sharpness({wae})", _metric(metrics, "VAE", "sharpness"),
                             _metric(metrics, wae, "sharpness")))
    return out
