"""Domain-adversarial members: the gradient reversal really reverses, the adversary sits on the
member's last hidden layer, and a real run keeps a single-output member for the device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN

pytestmark = pytest.mark.tf


def test_gradient_reversal_is_identity_forward_and_negated_backward() -> None:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("tf_keras")
    from train.adversarial import gradient_reversal

    layer = gradient_reversal(keras, 0.5)
    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 3.0]]))
    assert np.allclose(y.numpy(), x.numpy())
    assert np.allclose(tape.gradient(loss, x).numpy(), [[-0.5, -1.0, -1.5]])


def test_domain_head_reads_the_members_last_hidden_layer() -> None:
    keras = pytest.importorskip("tf_keras")
    from train.adversarial import domain_ids, with_domain_head
    from train.config import TrainConfig
    from train.members import build_member

    member = build_member("stats", 20, 6, 4, TrainConfig())
    both = with_domain_head(keras, member, 3, 1.0)
    x = np.random.default_rng(0).standard_normal((2, 20, 6)).astype(np.float32)
    emotions, domains = both.predict(x, verbose=0)
    assert emotions.shape == (2, 4) and domains.shape == (2, 3)
    assert np.allclose(emotions, member.predict(x, verbose=0))  # the same weights
    ids, n = domain_ids(np.array(["nemo", "ased", "nemo"]))
    assert ids.tolist() == [1, 0, 1] and n == 2


@pytest.mark.slow
def test_an_adversarial_run_keeps_a_single_output_member(tiny_corpus: Path,
                                                         tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import tf_keras as keras

    from edge.cli import main

    out = tmp_path / "run"
    rc = main(["train", "--data", str(tiny_corpus), "--out", str(out), "--cache",
               str(tmp_path / "cache"), "--set", "members=stats:mfcc+pitch+rms:1",
               "--set", "adversarial_weight=1.0", "--set", "adversarial_domain=speaker",
               "--set", "baselines=[]", "--no-compare", "--no-final", *TINY_TRAIN])
    assert rc == 0
    history = (out / "fold-1" / "m1-stats-mfcc+pitch+rms.history.csv").read_text()
    assert "domain_loss" in history.splitlines()[0]
    member = keras.models.load_model(out / "fold-1" / "m1-stats-mfcc+pitch+rms.h5",
                                     compile=False)
    assert len(member.outputs) == 1 and member.output_shape[-1] == 2
