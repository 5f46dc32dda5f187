"""Write a model folder all at once: build in a hidden sibling folder, then rename into place.

A conversion that fails halfway (a member that does not convert, a full disk, Ctrl-C)
leaves MODELS_DIR exactly as it was, and a device never sees a manifest whose members are
still being written. An existing folder is replaced only with ``force`` and only if it looks
like a model folder (or is empty), so a typo in ``--out`` cannot delete someone's data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from edge.errors import ConfigError
from edge.manifest import MANIFEST_NAME


def check_target(out: Path, force: bool) -> None:
    """Refuse early (before any slow work) if ``out`` cannot be written or replaced."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.is_dir():
        entries = [p.name for p in out.iterdir()]
        if not entries:
            return
        if not force:
            raise ConfigError(f"--out {out} already exists; add --force to replace it")
        if MANIFEST_NAME not in entries:
            raise ConfigError(f"--out {out} is not empty and holds no {MANIFEST_NAME}; refusing to "
                              "replace a folder that is not a model folder")


@contextlib.contextmanager
def staged(out: Path, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out``; on success move it to ``out``.

    On any exception the staging folder is removed and ``out`` is untouched.
    """
    out = Path(out).absolute()
    check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    stage = out.parent / f".{out.name}.partial-{tag}"
    stage.mkdir()
    try:
        yield stage
        check_target(out, force)  # someone may have created it meanwhile
        _swap_in(stage, out, out.parent / f".{out.name}.old-{tag}")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_in(stage: Path, out: Path, old: Path) -> None:
    if not out.exists():
        os.rename(stage, out)
        return
    os.rename(out, old)
    try:
        os.rename(stage, out)
    except OSError:
        os.rename(old, out)  # put the previous models back
        raise
    shutil.rmtree(old, ignore_errors=True)
