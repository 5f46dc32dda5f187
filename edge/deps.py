"""Optional packages: the one way edge-ser says that one is missing.

The edge install is NumPy + click + a TFLite interpreter; microphone capture adds PyAudio,
``train``/``convert``/``bench --compare-float`` add the training stack. Whatever is missing,
the user gets one line naming the package and the command that installs it, and exit status 6
(:class:`~edge.errors.MissingDependencyError`), never an ImportError traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from edge.errors import MissingDependencyError


def missing_error(what_for: str, modules: Iterable[str], install_hint: str
                  ) -> MissingDependencyError:
    """The error for ``what_for`` lacking ``modules`` (import names)."""
    names = list(modules)
    verb = "is" if len(names) == 1 else "are"
    return MissingDependencyError(
        f"{what_for} needs {', '.join(names)}, which {verb} not installed: {install_hint}")


def missing(modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that are not installed, found without importing any of them
    (so ``--help`` and preflight checks stay fast and TensorFlow-free)."""
    import importlib.util

    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package is missing, or a broken entry
            found = False
        if not found:
            absent.append(name)
    return absent


def check(modules: Iterable[str], what_for: str, install_hint: str) -> None:
    """Raise the one-line error if any of ``modules`` is not installed (nothing is imported)."""
    absent = missing(modules)
    if absent:
        raise missing_error(what_for, absent, install_hint)


def require(module: str, what_for: str, install_hint: str) -> ModuleType:
    """Import ``module`` (e.g. ``"pyaudio"``, ``"ai_edge_litert.interpreter"``) and return it,
    or raise the one-line error naming its top-level package."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_error(what_for, [module.split(".")[0]], install_hint) from None
