"""The one feature front end used by training, conversion and the device (NumPy only)."""

from edge.frontend.config import BASE_KINDS, FrontendConfig
from edge.frontend.features import assemble, compute_base, compute_bases, compute_features, delta
from edge.frontend.kinds import base_kinds_of, feature_dim, parse_kind
from edge.frontend.streaming import StreamingFrontend

__all__ = [
    "BASE_KINDS",
    "FrontendConfig",
    "StreamingFrontend",
    "assemble",
    "base_kinds_of",
    "compute_base",
    "compute_bases",
    "compute_features",
    "delta",
    "feature_dim",
    "parse_kind",
]
