"""Runs the test_* functions of a test file, each in its own temporary
directory: `python3 FILE.py CONVC [TEST ...]`.  The module is imported
from PYTHONPATH (build/python under ctest)."""
import os, sys, tempfile, traceback

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")


def netpbm(path):
    """A binary 8-bit PGM (P5) or PPM (P6) read by hand, as values / 255:
    [H, W] or [3, H, W]."""
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    w, h, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    assert fields[0] in (b"P5", b"P6") and maxval == 255, fields
    c = 3 if fields[0] == b"P6" else 1
    px = np.frombuffer(data[pos + 1:pos + 1 + w * h * c], np.uint8).astype(np.float64) / 255
    return px.reshape(h, w) if c == 1 else px.reshape(h, w, 3).transpose(2, 0, 1)


def main(tests):
    tests = {n: f for n, f in tests.items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                tests[name](tmp)
                print(f"ok   {name}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {name}:\n{traceback.format_exc()}", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
