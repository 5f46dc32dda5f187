"""Members built from the config, and their TFLite conversion at batch size 1."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from train.config import TrainConfig  # noqa: E402
from train.members import build_member, with_batch_size  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.tf]


@pytest.mark.parametrize("arch", ["cnn_lstm", "cnn", "lstm"])
def test_member_from_config(arch: str) -> None:
    cfg = TrainConfig(conv_filters=[8, 12], pool_sizes=[3, 2], lstm_units=[10], conv_kernel=3)
    m = build_member(arch, 60, 13, 5, cfg)
    assert m.input_shape == (None, 60, 13) and m.output_shape == (None, 5)
    names = [layer.name for layer in m.layers]
    if arch != "lstm":
        assert m.get_layer("conv2").filters == 12 and m.get_layer("conv1").kernel_size == (3,)
    if arch != "cnn":
        assert m.get_layer("lstm1").units == 10
    assert "window_cmn" in names
    p = m.predict(np.random.default_rng(0).normal(size=(2, 60, 13)).astype("float32"), verbose=0)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert len([n for n in names if n.startswith("lstm")]) == (0 if arch == "cnn" else 1)


def test_cnn_lstm_converts_to_int8_tflite_at_batch_1() -> None:
    cfg = TrainConfig(conv_filters=[8, 8], pool_sizes=[3, 2], lstm_units=[8])
    model = build_member("cnn_lstm", 60, 13, 4, cfg)
    fixed = with_batch_size(model, "cnn_lstm", cfg, 1)
    assert fixed.input_shape == (1, 60, 13)
    x = np.random.default_rng(1).normal(size=(1, 60, 13)).astype("float32")
    np.testing.assert_allclose(fixed.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for _ in range(4))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    blob = conv.convert()
    interp = tf.lite.Interpreter(model_content=blob)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    assert list(inp["shape"]) == [1, 60, 13]
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert out.shape == (1, 4) and abs(float(out.sum()) - 1) < 0.05
