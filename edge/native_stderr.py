"""Keeping native libraries' chatter off the user's terminal.

ALSA, JACK and PortAudio print to fd 2 from C, bypassing Python: at start-up ("unable to open
slave"), and from their own threads when a device vanishes. The user should see edge-ser's one
line, not those. Only microphone capture needs this module.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

_ALSA_HANDLER: Any = None  # keep the ctypes callbacks alive for the process lifetime
_JACK_HANDLERS: list[Any] = []


def install_native_silencers() -> None:
    """Route ALSA's and JACK's own error printers to nowhere (they bypass Python)."""
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None:
        return
    import ctypes  # only microphone capture needs it (0.4 MB resident)
    import ctypes.util

    noop_alsa = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)(lambda *a: None)
    _ALSA_HANDLER = noop_alsa
    name = ctypes.util.find_library("asound")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).snd_lib_error_set_handler(noop_alsa)
    name = ctypes.util.find_library("jack")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            jack = ctypes.CDLL(name)
            noop_jack = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda msg: None)
            _JACK_HANDLERS.append(noop_jack)
            jack.jack_set_error_function(noop_jack)
            jack.jack_set_info_function(noop_jack)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null for a native call that prints what the user need not see."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class NativeStderrMute:
    """Send native writes to fd 2 to /dev/null while Python's ``sys.stderr`` keeps working.

    PortAudio's ALSA host API prints "Expression '...' failed in pa_linux_alsa.c" from its
    own thread when a device vanishes; the user should see our one line, not those. Python
    output (errors, warnings, tracebacks) goes to a duplicate of the original stderr.
    """

    def __init__(self) -> None:
        self._saved_fd: int | None = None
        self._saved_stderr: Any = None

    def start(self) -> None:
        if self._saved_fd is not None:
            return
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        self._saved_fd = saved
        self._saved_stderr = sys.stderr
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(
            sys.stderr, "encoding", None) or "utf-8", errors="backslashreplace", closefd=True)

    def stop(self) -> None:
        if self._saved_fd is None:
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        replacement = sys.stderr
        sys.stderr = self._saved_stderr
        with contextlib.suppress(OSError, ValueError):
            replacement.close()
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        self._saved_fd = None
