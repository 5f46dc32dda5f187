"""edge-ser conversion: pruning, int8 TFLite, verification, manifest.

``edge-ser convert RUN_DIR --out MODELS_DIR`` (``convert.cli``) runs ``convert.pipeline``:

* ``runs``       read a run / member set folder written by ``edge-ser train`` (no TensorFlow)
* ``prune``      magnitude pruning with tfmot on a copy, fine-tune, strip, sparsity per layer
* ``quantize``   batch-1 rebuild (optionally unrolled LSTM), TFLiteConverter int8/dynamic/float32
* ``tflite_ops`` op list + versions from the flatbuffer; tflite-runtime 2.14 support table
* ``verify``     Keras float vs TFLite through edge's interpreter; markdown + JSON report
* ``package``    staging folder → atomic rename into MODELS_DIR
* ``tfenv``      quiet, lazy TensorFlow import
"""
