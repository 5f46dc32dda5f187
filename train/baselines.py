"""Classical baselines on utterance-level statistics of the same front-end features.

Mean and std of the feature over the speech frames of each recording, standardised with
training-actor statistics, then an RBF SVM or a Random Forest (scikit-learn). These are the
numbers a network has to beat to be worth its cost on the device (BASELINE.md: SVM 42.6 UAR).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from train.config import TrainConfig


def make_baseline(name: str, cfg: TrainConfig, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "svm":
        return make_pipeline(StandardScaler(), SVC(C=cfg.svm_c, kernel="rbf", gamma="scale",
                                                   class_weight="balanced" if cfg.class_weights
                                                   else None,
                                                   random_state=seed))
    if name == "rf":
        return make_pipeline(StandardScaler(), RandomForestClassifier(
            n_estimators=cfg.rf_trees, class_weight="balanced" if cfg.class_weights else None,
            random_state=seed, n_jobs=1))
    raise ValueError(f"unknown baseline {name!r}")


def fit_predict(name: str, cfg: TrainConfig, seed: int, x_train: np.ndarray, y_train: np.ndarray,
                x_test: np.ndarray) -> np.ndarray:
    """Class index per test utterance."""
    model = make_baseline(name, cfg, seed)
    model.fit(x_train, y_train)
    return np.asarray(model.predict(x_test), dtype=np.int64)
