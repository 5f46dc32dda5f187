"""Import TensorFlow quietly, and only when work really starts: one mechanism for
``edge-ser train`` and ``edge-ser convert``.

TensorFlow prints a screenful at import and during conversion (oneDNN and CUDA notices,
MLIR pass logs, "fully_quantize: 0 ...") through native stderr, which no environment variable
fully silences in TF 2.21 (``TF_CPP_MIN_LOG_LEVEL=3`` still lets the import notices through).
:func:`quiet_tf` sets the environment and imports TensorFlow with fd 2 held aside; training
calls it once in the command and once in each worker process, and the conversion also holds
fd 2 for its whole length (MLIR logs). The text is shown only if the user asked for it
(``--verbose``) or something unexpected went wrong.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from edge.errors import MissingDependencyError
from edge.native_stderr import held_stderr

INSTALL_HINT = "`edge-ser convert` needs TensorFlow: pip install -r requirements-train.txt"


#: set by :func:`quiet_tf`; worker processes inherit it and import TensorFlow quietly too
QUIET_MARK = "EDGE_SER_QUIET_TF"


def quiet_env() -> None:
    """TensorFlow's logging environment (before it is imported; child processes inherit it).

    Also hides Keras's note that .h5 is a legacy format (it is the run-folder contract).
    """
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras and tfmot mean tf_keras (Keras 2)
    warnings.filterwarnings("ignore", message=".*HDF5 file.*")


def quiet_tf() -> None:
    """Import TensorFlow now, its start-up notices held back (replayed if the import fails)."""
    quiet_env()
    os.environ[QUIET_MARK] = "1"
    with held_stderr() as log:
        try:
            import_tf()
        except BaseException:
            sys.stderr.write("".join(log))
            raise


def quiet_tf_if_asked() -> None:
    """In a worker process: import TensorFlow quietly if the parent did (:data:`QUIET_MARK`)."""
    if os.environ.get(QUIET_MARK) == "1":
        quiet_tf()


def _quiet_env() -> None:
    quiet_env()
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # keeps conversion results reproducible


def import_tf() -> tuple[Any, Any]:
    """``(tensorflow, tf_keras)``, or MissingDependencyError with the install command."""
    _quiet_env()
    try:
        import tensorflow as tf
        import tf_keras as keras
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    return tf, keras


def import_tfmot() -> Any:
    """tensorflow_model_optimization (pruning), with the same install hint."""
    _quiet_env()
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:
        raise MissingDependencyError(
            "pruning needs tensorflow-model-optimization: pip install -r requirements-train.txt "
            "(or convert with --sparsity 0)") from None
    return tfmot


