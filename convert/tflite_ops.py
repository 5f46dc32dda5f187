"""Which ops (and op versions) a .tflite file uses, and whether the edge interpreters run them.

A model converts fine and then fails on the Pi with "Didn't find op for builtin opcode
'FULLY_CONNECTED' version '12'" when the converter is newer than the interpreter there.
The op versions live only in the flatbuffer (the interpreter's op details give names, and
after delegation even those become "DELEGATE"), so a tiny reader parses the operator codes
directly: root table ``Model`` → field 1 ``operator_codes`` (``OperatorCode``: field 0
``deprecated_builtin_code`` int8, 2 ``version`` int32 default 1, 3 ``builtin_code`` int32;
the code is the larger of the two) and field 2 ``subgraphs`` → field 3 ``operators`` →
field 0 ``opcode_index``.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

from edge.errors import ModelError

#: Highest version of each builtin op that tflite-runtime 2.14.0 resolves.
#: Source: measured with ``benchmarks/convert_op_support.py`` against the PyPI wheel
#: tflite_runtime-2.14.0-cp311-cp311-manylinux2014_x86_64 (a model holding only the operator
#: code (op, v) is built for every op and v = 1..16); the figures agree with
#: BuiltinOpResolver in tensorflow/lite/core/kernels/register.cc of that era (e.g.
#: FULLY_CONNECTED 1..10, CONV_2D 1..7, UNIDIRECTIONAL_SEQUENCE_LSTM 1..4). BROADCAST_TO
#: starts at version 2. Ops absent here are unknown to 2.14.
TFLITE_RUNTIME_2_14_MAX_VERSION: dict[str, int] = {
    "ABS": 5, "ADD": 5, "ADD_N": 1, "ARG_MAX": 3, "ARG_MIN": 3, "ASSIGN_VARIABLE": 1,
    "ATAN2": 1, "AVERAGE_POOL_2D": 3, "BATCH_MATMUL": 4, "BATCH_TO_SPACE_ND": 4,
    "BIDIRECTIONAL_SEQUENCE_LSTM": 3, "BIDIRECTIONAL_SEQUENCE_RNN": 3, "BITCAST": 1,
    "BITWISE_XOR": 1, "BROADCAST_ARGS": 1, "BROADCAST_TO": 3, "BUCKETIZE": 1, "CALL_ONCE": 1,
    "CAST": 5, "CEIL": 1, "COMPLEX_ABS": 1, "CONCATENATION": 4, "CONV_2D": 7, "CONV_3D": 1,
    "CONV_3D_TRANSPOSE": 1, "COS": 1, "CUMSUM": 1, "DENSIFY": 1, "DEPTHWISE_CONV_2D": 7,
    "DEPTH_TO_SPACE": 2, "DEQUANTIZE": 5, "DIV": 2, "DYNAMIC_UPDATE_SLICE": 1, "ELU": 1,
    "EMBEDDING_LOOKUP": 3, "EMBEDDING_LOOKUP_SPARSE": 1, "EQUAL": 4, "EXP": 2,
    "EXPAND_DIMS": 1, "FAKE_QUANT": 2, "FILL": 4, "FLOOR": 1, "FLOOR_DIV": 3, "FLOOR_MOD": 2,
    "FULLY_CONNECTED": 10, "GATHER": 6, "GATHER_ND": 4, "GELU": 2, "GREATER": 2,
    "GREATER_EQUAL": 3, "HARD_SWISH": 1, "HASHTABLE": 1, "HASHTABLE_FIND": 1,
    "HASHTABLE_IMPORT": 1, "HASHTABLE_LOOKUP": 1, "HASHTABLE_SIZE": 1, "IF": 1, "IMAG": 1,
    "L2_NORMALIZATION": 2, "L2_POOL_2D": 1, "LEAKY_RELU": 2, "LESS": 3, "LESS_EQUAL": 2,
    "LOCAL_RESPONSE_NORMALIZATION": 1, "LOG": 1, "LOGICAL_AND": 1, "LOGICAL_NOT": 1,
    "LOGICAL_OR": 1, "LOGISTIC": 3, "LOG_SOFTMAX": 2, "LSH_PROJECTION": 1, "LSTM": 4,
    "MATRIX_DIAG": 1, "MATRIX_SET_DIAG": 1, "MAXIMUM": 4, "MAX_POOL_2D": 3, "MEAN": 3,
    "MINIMUM": 4, "MIRROR_PAD": 3, "MUL": 7, "MULTINOMIAL": 1, "NEG": 1,
    "NON_MAX_SUPPRESSION_V4": 1, "NON_MAX_SUPPRESSION_V5": 1, "NOT_EQUAL": 3, "ONE_HOT": 1,
    "PACK": 4, "PAD": 4, "PADV2": 4, "POW": 1, "PRELU": 1, "QUANTIZE": 3,
    "RANDOM_STANDARD_NORMAL": 1, "RANDOM_UNIFORM": 1, "RANGE": 2, "RANK": 1,
    "READ_VARIABLE": 1, "REAL": 1, "REDUCE_ALL": 1, "REDUCE_ANY": 1, "REDUCE_MAX": 3,
    "REDUCE_MIN": 3, "REDUCE_PROD": 2, "RELU": 3, "RELU6": 3, "RELU_0_TO_1": 1,
    "RELU_N1_TO_1": 1, "RESHAPE": 1, "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4,
    "REVERSE_SEQUENCE": 1, "REVERSE_V2": 3, "RFFT2D": 1, "RIGHT_SHIFT": 1, "RNN": 3,
    "ROUND": 1, "RSQRT": 2, "SCATTER_ND": 1, "SEGMENT_SUM": 1, "SELECT": 4, "SELECT_V2": 2,
    "SHAPE": 1, "SIGN": 2, "SIN": 1, "SKIP_GRAM": 1, "SLICE": 6, "SOFTMAX": 3,
    "SPACE_TO_BATCH_ND": 4, "SPACE_TO_DEPTH": 2, "SPARSE_TO_DENSE": 3, "SPLIT": 4,
    "SPLIT_V": 2, "SQRT": 1, "SQUARE": 1, "SQUARED_DIFFERENCE": 2, "SQUEEZE": 2,
    "STRIDED_SLICE": 8, "SUB": 5, "SUM": 2, "SVDF": 4, "TANH": 3, "TILE": 3, "TOPK_V2": 3,
    "TRANSPOSE": 6, "TRANSPOSE_CONV": 4, "UNIDIRECTIONAL_SEQUENCE_LSTM": 4,
    "UNIDIRECTIONAL_SEQUENCE_RNN": 3, "UNIQUE": 1, "UNPACK": 4, "UNSORTED_SEGMENT_MAX": 1,
    "UNSORTED_SEGMENT_MIN": 1, "UNSORTED_SEGMENT_PROD": 1, "UNSORTED_SEGMENT_SUM": 1,
    "VAR_HANDLE": 1, "WHERE": 2, "WHILE": 1, "ZEROS_LIKE": 1,
}
TFLITE_RUNTIME_2_14_MIN_VERSION: dict[str, int] = {"BROADCAST_TO": 2}

_DEPRECATED_CODE_LIMIT = 127  # PLACEHOLDER_FOR_GREATER_OP_CODES


@dataclass(frozen=True)
class OpUse:
    """One operator code of a model and how many nodes use it."""

    name: str
    version: int
    count: int
    tflite_runtime_2_14: bool  # resolvable by tflite-runtime 2.14

    def to_dict(self) -> dict[str, object]:
        return {"op": self.name, "version": self.version, "count": self.count,
                "tflite_runtime_2_14": self.tflite_runtime_2_14}


class _Reader:
    """The few flatbuffer primitives needed to walk tables, vectors and scalars."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table`` (None if absent)."""
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        vt_size = struct.unpack_from("<H", self.buf, vtable)[0]
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        off = struct.unpack_from("<H", self.buf, vtable + slot)[0]
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def tables(self, table: int, index: int) -> list[int]:
        """The tables of a vector-of-tables field (empty if absent)."""
        pos = self.field(table, index)
        if pos is None:
            return []
        vec = pos + self.u32(pos)
        n = self.u32(vec)
        return [vec + 4 + 4 * i + self.u32(vec + 4 + 4 * i) for i in range(n)]


def _op_names() -> dict[int, str]:
    """Builtin op code → name from the flatbuffer schema shipped with the interpreter."""
    for module in ("ai_edge_litert.schema_py_generated",
                   "tensorflow.lite.python.schema_py_generated"):
        try:
            schema = __import__(module, fromlist=["BuiltinOperator"])
        except ImportError:
            continue
        ops = schema.BuiltinOperator
        return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}
    return {}


def read_ops(model: bytes) -> list[OpUse]:
    """Operator codes used by the model's subgraphs, with versions and node counts."""
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ModelError("not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        r = _Reader(model)
        root = r.u32(0)
        codes = []
        for oc in r.tables(root, 1):
            deprecated = r.scalar(oc, 0, "b", 0)
            builtin = r.scalar(oc, 3, "i", 0)
            codes.append((max(deprecated, builtin), r.scalar(oc, 2, "i", 1)))
        counts: Counter[int] = Counter()
        for sg in r.tables(root, 2):
            for op in r.tables(sg, 3):
                counts[r.scalar(op, 0, "I", 0)] += 1
    except (struct.error, IndexError) as exc:
        raise ModelError(f"corrupt TFLite flatbuffer: {exc}") from None
    names = _op_names()
    uses = []
    for i, (code, version) in enumerate(codes):
        name = names.get(code, f"BUILTIN_{code}")
        ok = supported_by_tflite_runtime_2_14(name, version)
        uses.append(OpUse(name, version, counts.get(i, 0), ok))
    return uses


def supported_by_tflite_runtime_2_14(name: str, version: int) -> bool:
    top = TFLITE_RUNTIME_2_14_MAX_VERSION.get(name)
    return top is not None and TFLITE_RUNTIME_2_14_MIN_VERSION.get(name, 1) <= version <= top


def unsupported(uses: list[OpUse]) -> list[str]:
    """Human-readable problems for tflite-runtime 2.14 (empty when the model will run there)."""
    out = []
    for u in uses:
        if u.tflite_runtime_2_14:
            continue
        top = TFLITE_RUNTIME_2_14_MAX_VERSION.get(u.name)
        why = "unknown op" if top is None else f"supports up to v{top}"
        out.append(f"{u.name} v{u.version} ({why})")
    return out
