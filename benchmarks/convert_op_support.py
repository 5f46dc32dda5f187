"""Measure which builtin op versions an edge interpreter resolves.

Why: an int8 model fails to load on the Pi if the converter emitted an op version newer
than the interpreter there (e.g. FULLY_CONNECTED v12 on tflite-runtime 2.14). The figures
in ``convert/tflite_ops.py`` come from this script, run against the real wheels, rather
than from reading C++ sources of uncertain vintage.

How: for every builtin op and every version 1..``--max-version`` it writes a minimal
model whose only operator code is (op, version) and asks the interpreter to build it;
TFLite resolves every operator code at construction, so the build fails exactly when the
runtime has no kernel registered for that version.

    # the interpreter under test may live in another venv (tflite-runtime 2.14 needs numpy<2):
    python benchmarks/convert_op_support.py --python /path/to/venv/bin/python \
        --module tflite_runtime.interpreter > ops-tflrt214.json

Generating the probe models needs ``ai_edge_litert`` (its flatbuffer schema) in the venv that
runs this script; the child only needs the interpreter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, sys
mod = __import__(sys.argv[1], fromlist=["Interpreter"])
folder = sys.argv[2]
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 2)  # the runtime prints one line per unresolved op
ok = {}
for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as fh:
        content = fh.read()
    try:
        mod.Interpreter(model_content=content)
        ok[name] = True
    except Exception:
        ok[name] = False
print(json.dumps(ok))
"""


def probe_model(code: int, version: int) -> bytes:
    """A model with one input tensor, no operators and the single operator code (op, version)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    oc = s.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)  # 127: PLACEHOLDER_FOR_GREATER_OP_CODES
    oc.version = version
    t = s.TensorT()
    t.shape = [1]
    t.type = s.TensorType.FLOAT32
    t.buffer = 0
    t.name = "x"
    sg = s.SubGraphT()
    sg.tensors = [t]
    sg.inputs = [0]
    sg.outputs = [0]
    sg.operators = []
    m = s.ModelT()
    m.version = 3
    m.operatorCodes = [oc]
    m.subgraphs = [sg]
    m.buffers = [s.BufferT()]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="python of the interpreter's venv")
    ap.add_argument("--module", default="ai_edge_litert.interpreter")
    ap.add_argument("--max-version", type=int, default=16)
    args = ap.parse_args()

    from ai_edge_litert import schema_py_generated as s

    ops = {k: v for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in ops.items():
            if name in ("CUSTOM", "PLACEHOLDER_FOR_GREATER_OP_CODES"):
                continue
            for v in range(1, args.max_version + 1):
                Path(tmp, f"{name}@{v}").write_bytes(probe_model(code, v))
        out = subprocess.run([args.python, "-c", CHILD, args.module, tmp],
                             capture_output=True, text=True, check=True)
    ok = json.loads(out.stdout.strip().splitlines()[-1])
    table: dict[str, int] = {}
    for key, good in ok.items():
        name, v = key.split("@")
        if good:
            table[name] = max(table.get(name, 0), int(v))
    print(json.dumps(dict(sorted(table.items())), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
