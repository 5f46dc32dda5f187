"""Domain-adversarial training (Ganin & Lempitsky 2015): members that cannot tell corpora (or
speakers) apart.

Why: what a member learns about *which corpus* a window comes from (its microphone, room,
language, actors) is what fails on a corpus it never heard. A second head predicts the domain
from the member's last hidden layer through a gradient-reversal layer: the head learns to
tell domains apart, the member learns features that defeat it. Only the emotion model is kept:
the device sees the same single-output member as without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gradient_reversal(keras: Any, weight: float) -> Any:
    """A layer that is the identity forward and multiplies the gradient by ``-weight``."""
    import tensorflow as tf

    class GradientReversal(keras.layers.Layer):
        def __init__(self, weight: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.weight = float(weight)

        def call(self, x: Any) -> Any:
            @tf.custom_gradient
            def reverse(y: Any) -> Any:
                return tf.identity(y), lambda dy: -self.weight * dy

            return reverse(x)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "weight": self.weight}

    return GradientReversal(weight, name="gradient_reversal")


def with_domain_head(keras: Any, model: Any, n_domains: int, weight: float,
                     units: int = 32) -> Any:
    """The training model: ``model``'s emotion output and a domain head on the input of its
    ``probs`` layer, behind a gradient reversal of strength ``weight``."""
    hidden = model.get_layer("probs").input
    x = gradient_reversal(keras, weight)(hidden)
    x = keras.layers.Dense(units, activation="relu", name="domain_hidden")(x)
    domain = keras.layers.Dense(n_domains, activation="softmax", name="domain")(x)
    return keras.Model(model.input, [model.output, domain], name=f"{model.name}_adversarial")


def domain_ids(names: np.ndarray) -> tuple[np.ndarray, int]:
    """Domain names per window as indices 0..n-1 (sorted names), and n."""
    uniq, idx = np.unique(np.asarray(names).astype(str), return_inverse=True)
    return idx.astype(np.int64), len(uniq)
