"""Cross-check the runtime's .npy reader and writer against numpy.

Usage: npy_interop.py PATH/TO/npy_interop_tool
Every case runs the C tool; any mismatch makes the script exit non-zero."""
import os
import subprocess
import sys
import tempfile

import numpy as np
from numpy.lib import format as npformat

tool = sys.argv[1]
failures = 0


def run(*args, expect_ok=True):
    global failures
    r = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    if (r.returncode == 0) != expect_ok:
        failures += 1
        print(f"FAIL: {' '.join(map(str, args))} -> {r.returncode}: {r.stderr.strip()}")


def ramp(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n, dtype=np.float64) * 0.25 - 1.0).astype(dtype).reshape(shape)


shapes = [(2, 3, 4), (5,), (), (1, 1, 7, 3), (2, 1, 2, 1, 2, 1, 2, 3)]
with tempfile.TemporaryDirectory() as d:
    # numpy -> runtime
    for shape in shapes:
        for dtype in ("<f4", "<f8"):
            p = os.path.join(d, "np.npy")
            np.save(p, ramp(shape, dtype))
            run("check", p, *shape)
            for version in ((2, 0), (3, 0)):
                with open(p, "wb") as f:
                    npformat.write_array(f, ramp(shape, dtype), version=version)
                run("check", p, *shape)
    # rejected by the runtime although numpy reads them
    p = os.path.join(d, "rej.npy")
    np.save(p, np.asfortranarray(ramp((3, 4), "<f4")))
    run("reject", p)
    np.save(p, np.arange(6, dtype="<i4"))
    run("reject", p)
    np.save(p, ramp((3,), ">f4"))
    run("reject", p)
    # runtime -> numpy
    for shape in shapes:
        p = os.path.join(d, "rt.npy")
        run("write", p, *shape)
        a = np.load(p)
        want = ramp(shape, "<f4")
        if a.dtype != np.dtype("<f4") or a.shape != shape or not np.array_equal(a, want):
            failures += 1
            print(f"FAIL: numpy read {a.dtype} {a.shape} for {shape}")
        with open(p, "rb") as f:
            major, minor = npformat.read_magic(f)
            if (major, minor) != (1, 0):
                failures += 1
                print("FAIL: runtime wrote version", major, minor)
    leftovers = [n for n in os.listdir(d) if ".tmp" in n]
    if leftovers:
        failures += 1
        print("FAIL: temporary files left:", leftovers)

print("npy interop:", "OK" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
