"""One ensemble member on the TFLite interpreter: quantize, reset, invoke, dequantize.

The backend is chosen by a parameter (as in openWakeWord): ``ai_edge_litert`` (the current
LiteRT wheel, x86_64 and aarch64) or ``tflite_runtime`` (the last wheel for 32-bit Pi OS).
A member is checked against its manifest entry when it is loaded, so a wrong or tampered
model never runs: the manifest's checksum covers the bytes, this covers the meaning.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.deps import missing_error
from edge.errors import ConfigError, ModelError
from edge.manifest import MAX_MEMBER_BYTES, Member, Quantization, TensorSpec, sha256_bytes
from edge.native_stderr import held_stderr

if TYPE_CHECKING:
    from edge.manifest import Manifest

BACKENDS: tuple[str, ...] = ("ai_edge_litert", "tflite_runtime")
_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "float32": np.float32}
_SCALE_RTOL = 1e-5  # the manifest stores scales as JSON floats; the model as float32


def install_hint(machine: str | None = None) -> str:
    """What to ``pip install`` for an interpreter on this CPU."""
    if machine is None:
        import platform

        machine = platform.machine()
    machine = machine.lower()
    if machine in ("armv7l", "armv6l", "arm"):
        return (
            "pip install tflite-runtime==2.14.0 'numpy<2' (32-bit Pi OS, Python 3.11 only; "
            "ai-edge-litert has no armv7l wheel)"
        )
    return "pip install ai-edge-litert"


def _litert_interpreter_alone() -> ModuleType:
    """``ai_edge_litert.interpreter`` without running the package's ``__init__``.

    That ``__init__`` dlopens ``libLiteRt.so`` (8 MB: the CompiledModel and accelerator
    runtime) on every import, although the classic Interpreter does not link to it (its
    wrapper needs only ``libpywrap_litert_common.so``): a device process paid 2 MB of its
    45 MB RSS budget for it. The package is registered as a plain namespace for its
    submodules; anything unexpected undoes that and the normal import runs instead.
    """
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("ai_edge_litert is not installed")
    sys.modules["ai_edge_litert"] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except BaseException:
        for name in [m for m in sys.modules if m.partition(".")[0] == "ai_edge_litert"]:
            del sys.modules[name]
        raise


def _import_interpreter(backend: str) -> ModuleType:
    if backend == "ai_edge_litert" and "ai_edge_litert" not in sys.modules:
        with contextlib.suppress(ImportError, OSError):
            return _litert_interpreter_alone()
    return importlib.import_module(f"{backend}.interpreter")


def interpreter_class(backend: str = "auto") -> tuple[str, Any]:
    """Return ``(backend name, Interpreter class)``; the first installed one for ``auto``."""
    if backend not in ("auto", *BACKENDS):
        raise ConfigError(f"backend must be auto, {' or '.join(BACKENDS)}; got {backend!r}")
    if backend != "auto":
        try:
            return backend, _import_interpreter(backend).Interpreter
        except ImportError:
            raise missing_error(f"backend {backend}", [backend],
                                f"pip install {backend.replace('_', '-')}") from None
    for name in BACKENDS:
        with contextlib.suppress(ImportError):
            return name, _import_interpreter(name).Interpreter
    raise missing_error("edge-ser", ["a TFLite interpreter"], install_hint())


def _spec_of(detail: dict[str, Any]) -> TensorSpec:
    dtype = np.dtype(detail["dtype"]).name
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quant = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorSpec(tuple(int(s) for s in detail["shape"]), dtype, quant)


def _mismatch(role: str, want: TensorSpec, got: TensorSpec) -> str | None:
    if want.shape != got.shape:
        return f"{role} shape is {list(got.shape)}, the manifest says {list(want.shape)}"
    if want.dtype != got.dtype:
        return f"{role} dtype is {got.dtype}, the manifest says {want.dtype}"
    if want.dtype == "float32":
        return None
    wq, gq = want.quantization, got.quantization
    if wq is None or gq is None:
        return f"{role} quantization is {gq}, the manifest says {wq}"
    if wq.zero_point != gq.zero_point or not math.isclose(wq.scale, gq.scale, rel_tol=_SCALE_RTOL):
        return (
            f"{role} quantization is scale={gq.scale:.6g} zero_point={gq.zero_point}, "
            f"the manifest says scale={wq.scale:.6g} zero_point={wq.zero_point}"
        )
    return None


class MemberModel:
    """One member: normalised features in, class probabilities out.

    Args:
        path: the ``.tflite`` file.
        member: its manifest entry; when given, the model's real input/output shapes, dtypes
            and quantization must match it or :class:`ModelError` is raised.
        num_threads: interpreter threads (1 is the edge target: members are tiny).
        backend: ``"auto"``, ``"ai_edge_litert"`` or ``"tflite_runtime"``.
        use_xnnpack: let the interpreter apply its default (XNNPACK) delegate; off gives the
            built-in kernels only (the reference for bit-exact comparisons).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        member: Member | None = None,
        num_threads: int = 1,
        backend: str = "auto",
        use_xnnpack: bool = True,
    ) -> None:
        self.path = Path(path)
        self.name = member.name if member is not None else self.path.stem
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ConfigError(f"num_threads must be an integer >= 1, got {num_threads!r}")
        self.num_threads = num_threads
        self.backend, self._cls = interpreter_class(backend)
        self._use_xnnpack = use_xnnpack
        who = f"member {self.name!r}"
        if not self.path.is_file():
            raise ModelError(f"{who}: model file {self.path} is missing")
        t0 = time.perf_counter()
        # The interpreter is built from exactly these bytes, checked against the manifest's
        # checksum here: a file swapped after load_manifest() verified it never runs either.
        self._content = self._read(member)
        self.interpreter = self._open(self._resolver(use_xnnpack))
        self.load_seconds = time.perf_counter() - t0
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{who}: {self.path.name} has {len(inputs)} inputs and {len(outputs)} outputs; "
                "a member must have exactly one of each"
            )
        self._in, self._out = inputs[0], outputs[0]
        self.input_spec = _spec_of(self._in)
        self.output_spec = _spec_of(self._out)
        if self.input_spec.dtype not in _DTYPES or self.output_spec.dtype not in _DTYPES:
            raise ModelError(f"{who}: unsupported tensor types {self.input_spec.dtype}/"
                             f"{self.output_spec.dtype}")
        if member is not None:
            for role, want, got in (("input", member.input, self.input_spec),
                                    ("output", member.output, self.output_spec)):
                problem = _mismatch(role, want, got)
                if problem:
                    raise ModelError(f"{who}: {self.path.name} does not match the manifest: "
                                     f"{problem}; refusing to run it")
        self._in_dtype = _DTYPES[self.input_spec.dtype]
        self._in_info = np.iinfo(self._in_dtype) if self.input_spec.dtype != "float32" else None

    # ---- loading -------------------------------------------------------------------
    def _read(self, member: Member | None) -> bytes:
        who = f"member {self.name!r}"
        try:
            with open(self.path, "rb") as fh:
                # read(n) allocates n bytes up front: ask for the file's size (+1 to see a file
                # that grew), not for the 64 MB ceiling, which every load would map and drop
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_MEMBER_BYTES:
                    raise ModelError(f"{who}: file {self.path} is implausibly large")
                data = fh.read(size + 1)
        except OSError as exc:
            raise ModelError(f"{who}: cannot read {self.path}: {exc.strerror or exc}") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise ModelError(f"{who}: file {self.path} is implausibly large")
        if member is not None:
            actual = sha256_bytes(data)
            if actual != member.sha256:
                raise ModelError(
                    f"{who}: {self.path.name} fails its checksum (sha256 {actual[:12]}…, "
                    f"manifest says {member.sha256[:12]}…): the file was changed or corrupted; "
                    "refusing to run it")
        return data

    def _resolver(self, use_xnnpack: bool) -> Any:
        if use_xnnpack:
            return None
        module = __import__(self._cls.__module__, fromlist=["OpResolverType"])
        return getattr(module, "OpResolverType", None)

    def _open(self, resolver_enum: Any) -> Any:
        kwargs: dict[str, Any] = {"model_content": self._content,
                                  "num_threads": self.num_threads}
        if resolver_enum is not None:
            kwargs["experimental_op_resolver_type"] = (
                resolver_enum.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        with held_stderr(limit=64 * 1024) as log:
            try:
                interp = self._cls(**kwargs)
                interp.allocate_tensors()
                error = None
            except (ValueError, RuntimeError) as exc:
                interp, error = None, exc
        if interp is None:
            native = " ".join(line.strip() for line in "".join(log).splitlines() if line.strip())
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            why = "; ".join(x for x in (detail, native[:300]) if x)
            raise ModelError(f"member {self.name!r}: {self.path.name} is not a usable TFLite "
                             f"model ({why or 'unknown error'})")
        return interp

    # ---- inference -----------------------------------------------------------------
    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Features (float) to the input tensor's type: round half to even, then clip."""
        x = np.asarray(x, dtype=np.float32).reshape(self.input_spec.shape)
        q = self.input_spec.quantization
        if self._in_info is None or q is None:
            return x
        scaled = np.rint(x / np.float32(q.scale)) + q.zero_point
        return np.clip(scaled, self._in_info.min, self._in_info.max).astype(self._in_dtype)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        q = self.output_spec.quantization
        if self.output_spec.dtype == "float32" or q is None:
            return np.asarray(y, dtype=np.float32).reshape(-1)
        return (np.float32(q.scale) * (y.astype(np.float32) - q.zero_point)).reshape(-1)

    def predict(self, x: np.ndarray, reset_state: bool = True) -> np.ndarray:
        """Class probabilities for one window of normalised features.

        ``x`` is ``[frames, dim]`` or ``[1, frames, dim]``. The fused TFLite LSTM keeps its
        state in variable tensors between invocations, so each window starts from a reset
        state (``reset_state=False`` exists only to demonstrate why).
        """
        x = np.asarray(x)
        want = self.input_spec.shape
        if x.shape != want and (1, *x.shape) != want:
            raise ValueError(f"member {self.name!r} expects {list(want)}, got {list(x.shape)}")
        if reset_state:
            self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self._in["index"], self.quantize(x))
        self.interpreter.invoke()
        return self.dequantize(self.interpreter.get_tensor(self._out["index"]))

    def op_names(self) -> list[str]:
        """The model's operators in graph order, each once (e.g. UNIDIRECTIONAL_SEQUENCE_LSTM).

        Read from an interpreter without the default delegate, whose nodes would otherwise
        hide the real ops behind one ``DELEGATE`` node. Empty if the backend cannot tell.
        """
        interp = self.interpreter if not self._use_xnnpack else None
        if interp is None:
            resolver = self._resolver(False)
            if resolver is None:
                return []
            interp = self._open(resolver)
        details = getattr(interp, "_get_ops_details", None)
        if details is None:
            return []
        names: list[str] = []
        for op in details():
            if op["op_name"] not in names:
                names.append(op["op_name"])
        return names

    def __repr__(self) -> str:
        return (f"MemberModel({self.name!r}, in={list(self.input_spec.shape)} "
                f"{self.input_spec.dtype}, backend={self.backend})")


def load_members(
    manifest: Manifest, num_threads: int = 1, backend: str = "auto", use_xnnpack: bool = True
) -> list[MemberModel]:
    """Open every member of a loaded manifest, each checked against its entry."""
    return [
        MemberModel(manifest.member_path(mb), mb, num_threads=num_threads, backend=backend,
                    use_xnnpack=use_xnnpack)
        for mb in manifest.members
    ]
