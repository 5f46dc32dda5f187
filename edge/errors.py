"""User-facing errors.

Everything the user can cause (a bad file, a tampered model, a missing device) raises a
subclass of :class:`EdgeSerError`; the CLI prints its message as one line and exits with its
``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EdgeSerError(Exception):
    """An error the user can act on; printed as one line, never as a traceback."""

    exit_code: int = 1


class ConfigError(EdgeSerError):
    """A configuration (front end, profile, hyperparameters) is invalid."""

    exit_code = 2


class AudioError(EdgeSerError):
    """An audio file or stream cannot be read."""

    exit_code = 3


class ModelError(EdgeSerError):
    """A model folder, manifest or member file is missing, invalid or tampered with."""

    exit_code = 4


class DeviceError(EdgeSerError):
    """An audio device is missing, busy or disappeared."""

    exit_code = 5


class MissingDependencyError(EdgeSerError):
    """An optional package needed for this command is not installed."""

    exit_code = 6


class SpeakerError(EdgeSerError):
    """An enrolled speaker's file is missing, invalid, made for other models, or the
    enrolment audio holds too little speech."""

    exit_code = 7


def error_for_exit_status(status: int, message: str) -> EdgeSerError:
    """The error class whose exit status is ``status`` (a child ``edge-ser`` process's), so a
    failure passed on from a subprocess keeps its meaning (4 models, 6 missing package, ...)."""
    for cls in (ConfigError, AudioError, ModelError, DeviceError, MissingDependencyError,
                SpeakerError):
        if cls.exit_code == status:
            return cls(message)
    return EdgeSerError(message)
