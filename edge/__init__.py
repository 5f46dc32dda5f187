"""edge-ser runtime: NumPy front end, TFLite ensemble, live decisions.

This package must never import TensorFlow, Keras, librosa, scipy or scikit-learn: it is what
runs on the Raspberry Pi (see tests/test_edge_imports.py).
"""

__version__ = "0.1.0"
