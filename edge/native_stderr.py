"""Keeping native libraries' chatter off the user's terminal.

ALSA, JACK and PortAudio print to fd 2 from C, bypassing Python: at start-up ("unable to open
slave"), and from their own threads when a device vanishes; LiteRT prints "Created TensorFlow
Lite XNNPACK delegate" on every model load and its real errors the same way; TensorFlow prints a
screenful during conversion. The user should see edge-ser's one line, not those. Every
redirection of fd 2 in the project is one of the three tools here: :func:`quiet_stderr` (drop),
:func:`held_stderr` (keep the text for an error message) and :class:`NativeStderrMute` (drop
native writes for a whole capture session while Python's ``sys.stderr`` keeps working).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

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
def _fd2_to(target: int) -> Iterator[bool]:
    """Point fd 2 at ``target`` for the block; yields False (and redirects nothing) when the
    process has no fd 2 (daemonised without one)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield False
        return
    os.dup2(target, 2)
    try:
        yield True
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null for a native call that prints what the user need not see."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with _fd2_to(devnull):
            yield
    finally:
        os.close(devnull)


def _scratch_file() -> BinaryIO:
    """An anonymous in-memory file: nothing touches the disk, and no tempfile module (with
    shutil, random, bz2 and lzma behind it: 0.9 MB resident) on the device's load path."""
    try:
        fd = os.memfd_create("edge-ser-stderr", getattr(os, "MFD_CLOEXEC", 0))
    except (AttributeError, OSError):  # not Linux
        import tempfile

        return tempfile.TemporaryFile()
    return os.fdopen(fd, "w+b")


@contextlib.contextmanager
def held_stderr(enabled: bool = True, limit: int | None = None) -> Iterator[list[str]]:
    """Hold everything written to fd 2 (native and Python) aside; yield a list that receives
    the text (at most ``limit`` bytes of it) when the block ends.

    The caller replays it when it explains a failure (a model the interpreter rejects, a
    conversion that went wrong) or drops it. ``enabled=False`` holds nothing (``--verbose``).
    """
    log: list[str] = []
    if not enabled:
        yield log
        return
    with _scratch_file() as tmp, _fd2_to(tmp.fileno()):
        try:
            yield log
        finally:
            tmp.seek(0)
            log.append(tmp.read(-1 if limit is None else limit).decode("utf-8", "replace"))


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
