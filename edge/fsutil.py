"""Writing files so that a crash never leaves half a file under the real name.

One helper for every writer (manifests, ``features --out``, ``--record`` WAVs, training runs):
the data go to a temporary file in the target's folder, then :func:`os.replace` renames it.
The temporary file is created with ``os.open(..., 0o666)``, so the kernel applies the process
umask exactly as for any ``open(path, "w")``: no ``os.umask()`` read-and-restore (which races
with other threads) and no mkstemp 0600 files that the service user cannot read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], None]


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Writer,
                 mode: int | None = None, *, fsync: bool = False) -> Path:
    """Write ``data`` (bytes, UTF-8 text, or a function that writes to a binary file) to
    ``path`` atomically. The file gets ``0o666 & ~umask`` like a normal new file, or exactly
    ``mode`` when given (e.g. 0o600 for something private). Raises OSError."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(100):
        tmp = folder / f".{p.name}.{os.getpid()}.{attempt}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"cannot create a temporary file beside {p}")
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)  # exactly this mode, whatever the umask
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p
