"""The ``rbf`` member: a Gaussian-kernel classifier on window statistics, fitted in closed form.

Why: on corpora no model heard, the screens' SVM on utterance statistics beats every member
trained by gradient descent, and the gap is the SVM's *fit*, not its kernel
(train/results/multicorpus/screen-member-gap.md). The SVM itself cannot be a member: its
decision is a small difference of sums over ~2,700 support vectors, and int8 loses 5 points of
it (svm-member-probe.md). This member keeps the kernel and a convex fit, but few centres:

* the window's per-coefficient mean and spread (the ``stats`` member's statistics: no square
  root, which tflite-runtime 2.14 has no int8 kernel for), standardised on training windows;
* Gaussian kernel values to ``rbf_centres`` k-means centres of those statistics, with the
  SVM's "scale" width (1 / number of statistics);
* a class- and corpus-balanced multinomial logistic regression on the kernel values.

sklearn fits it in a minute; the export is ordinary tf_keras layers that convert to int8
builtins. Two choices keep int8 close to the float model (``rbf-member-probe.md``): the
squared distances come from one dense layer with a fused ReLU6 (distances beyond
``rbf_floor`` are clipped, so the int8 range spends its 256 steps where kernels are not ~0),
and the logistic regression's weights are few and regularised, not thousands of ±C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from train.config import TrainConfig
from train.members import RBF_SQUARE_SCALE

if TYPE_CHECKING:
    from train.fit import FitResult

#: windows per chunk when computing statistics (bounds the float64 copy of the windows)
_CHUNK = 4096


def window_statistics(x: np.ndarray, spread: str = "mad") -> np.ndarray:
    """[n, frames, dim] → [n, 2·dim]: each coefficient's mean over the window and its spread,
    the mean of its positive deviations (``mad``: half the mean absolute deviation) or the
    variance (``var``), as the member's layers compute them."""
    out = []
    for s in range(0, len(x), _CHUNK):
        w = np.asarray(x[s:s + _CHUNK], dtype=np.float64)
        mean = w.mean(1)
        dev = w - mean[:, None, :]
        spread_ = (dev ** 2 if spread == "var" else np.maximum(dev, 0.0)).mean(1)
        out.append(np.concatenate([mean, spread_], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2 * x.shape[-1]))


@dataclass
class RbfFit:
    """What the member's layers hold."""

    mu: np.ndarray          # [s] statistics' training mean
    sd: np.ndarray          # [s] and standard deviation
    centres: np.ndarray     # [m, s] in standardised units
    gamma: float
    coef: np.ndarray        # [m, classes]
    intercept: np.ndarray   # [classes]
    floor: float            # largest gamma·distance² kept
    spread: str = "mad"     # the statistics' spread (window_statistics)

    def kernel(self, z: np.ndarray) -> np.ndarray:
        """[n, centres] kernel values, in chunks of rows (the differences are [rows, centres,
        statistics]: all training windows at once would take gigabytes)."""
        out = []
        for s in range(0, len(z), _CHUNK):
            d = ((z[s:s + _CHUNK, None, :] - self.centres[None]) ** 2).sum(-1) * self.gamma
            out.append(np.exp(-np.minimum(d, self.floor)))
        return np.concatenate(out) if out else np.zeros((0, len(self.centres)))

    def probs(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of windows [n, frames, dim] (the float reference)."""
        z = (window_statistics(x, self.spread) - self.mu) / self.sd
        logits = self.kernel(z) @ self.coef + self.intercept
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def fit_rbf(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: TrainConfig, seed: int,
            weights: np.ndarray | None = None, centre_rows: np.ndarray | None = None,
            gamma_scale: float = 1.0) -> RbfFit:
    """Centres by k-means on a seeded sample of the training windows' statistics, then the
    logistic regression on every window's kernel values (``weights`` per window, else classes
    balanced). A class no window has gets a logit far below the rest. ``centre_rows`` (the
    windows the standardisation and the centres come from, default all) and ``gamma_scale``
    (a wider or narrower kernel) are for probes of the fit (benchmarks/rbf_augment_probe.py)."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    stats = window_statistics(x, cfg.rbf_spread)
    base = stats if centre_rows is None else stats[centre_rows]
    mu, sd = base.mean(0), base.std(0) + 1e-6
    z = (stats - mu) / sd
    pool = z if centre_rows is None else z[centre_rows]
    rng = np.random.default_rng(seed)
    sample = pool[rng.choice(len(pool), size=min(len(pool), cfg.rbf_kmeans_windows),
                             replace=False)]
    m = min(cfg.rbf_centres, len(sample))
    centres = KMeans(m, n_init=2, random_state=seed).fit(sample).cluster_centers_
    if m < cfg.rbf_centres:  # a tiny run: repeat centres so the layer keeps its configured size
        centres = centres[np.arange(cfg.rbf_centres) % m]
    fit = RbfFit(mu, sd, centres, gamma_scale / z.shape[1],
                 np.zeros((cfg.rbf_centres, n_classes)), np.full(n_classes, -30.0),
                 cfg.rbf_floor, cfg.rbf_spread)
    present = np.unique(y)
    k = fit.kernel(z)
    if len(present) == 1:  # one class: it always wins
        fit.intercept[present[0]] = 0.0
        return fit
    # without per-window weights (corpus and class balance), classes are balanced as the
    # gradient-trained members' class weights do
    lr = LogisticRegression(C=cfg.rbf_c, max_iter=cfg.rbf_max_iter,
                            class_weight=None if weights is not None else "balanced")
    lr.fit(k, y, sample_weight=weights)
    coef = lr.coef_ if len(present) > 2 else np.stack([-lr.coef_[0], lr.coef_[0]]) / 2
    icpt = lr.intercept_ if len(present) > 2 else np.array([-lr.intercept_[0],
                                                              lr.intercept_[0]]) / 2
    fit.coef[:, present] = coef.T
    fit.intercept[present] = icpt
    return fit


def set_rbf_weights(model: Any, fit: RbfFit) -> None:
    """Write ``fit`` into a member built by ``build_member("rbf", ...)``."""
    s = len(fit.mu)
    model.get_layer("rbf_standardise").set_weights([np.diag(1.0 / fit.sd), -fit.mu / fit.sd])
    # gamma·|z - c|² = gamma·Σz² - 2·gamma·z·c + gamma·|c|², scaled so that the floor is 6
    # (the fused ReLU6 clips there)
    scale = 6.0 / fit.floor
    kernel = np.concatenate([np.full((s, len(fit.centres)), fit.gamma / RBF_SQUARE_SCALE),
                             -2.0 * fit.gamma * fit.centres.T]) * scale
    bias = fit.gamma * (fit.centres ** 2).sum(1) * scale
    model.get_layer("rbf_distance").set_weights([kernel, bias])
    model.get_layer("probs").set_weights([fit.coef, fit.intercept])


def fit_rbf_member(build: Callable[[], Any], x: np.ndarray, y: np.ndarray,
                   val: tuple[np.ndarray, np.ndarray, np.ndarray] | None, cfg: TrainConfig,
                   n_classes: int, seed: int, weights: np.ndarray | None = None,
                   log: Callable[[str], None] | None = None) -> FitResult:
    """Fit, export into the built model and report the validation UAR as ``fit_member`` does
    (one "epoch": the fit has none)."""
    from train.evaluate import score_windows
    from train.fit import FitResult

    t0 = time.time()
    fit = fit_rbf(x, y, n_classes, cfg, seed, weights)
    model = build()
    set_rbf_weights(model, fit)
    seconds = time.time() - t0
    history: dict[str, list[float]] = {}
    best_val = float("nan")
    if val is not None and len(val[1]) > 0:
        xv, yv, fv = val
        truth = {int(f): int(t) for f, t in zip(fv, yv, strict=True)}
        labels = [str(c) for c in range(n_classes)]
        best_val = float(score_windows(fit.probs(xv), fv, truth, labels).uar)
        history["val_uar"] = [best_val]
    if log:
        log(f"  rbf: {len(fit.centres)} centres, fitted in {seconds:.0f} s, val UAR {best_val:.3f}")
    return FitResult(model, history, 1, best_val, seconds)
