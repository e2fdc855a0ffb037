"""Check the runtime's FFT convolutions against SciPy.

Usage: fft_scipy.py PATH/TO/fft_scipy_tool

scipy.signal.convolve and correlate (method='direct', in float64) of
random float32 operands, 1-D and 2-D, every mode, either operand the
larger, against fft_scipy_tool's result computed with the windows that
convrt_abi.h documents.  The error must be at most 1e-5 of the largest
magnitude (the project's tolerance is 1e-4).  Exits non-zero on any
mismatch."""
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy import signal

tool = sys.argv[1]
rng = np.random.default_rng(20240611)

cases = []
for n1, n2 in [(1, 1), (1, 6), (6, 1), (5, 3), (3, 5), (4, 4), (2, 7), (7, 2), (100, 13), (13, 100), (64, 64),
               (1000, 257), (257, 1000), (4999, 4096), (3, 4096)]:
    cases.append(((n1,), (n2,)))
for s1, s2 in [((1, 1), (1, 1)), ((5, 7), (3, 2)), ((3, 2), (5, 7)), ((8, 9), (8, 9)), ((40, 33), (5, 9)),
               ((6, 40), (3, 31)), ((120, 90), (31, 31)), ((31, 31), (120, 90))]:
    cases.append((s1, s2))

failures = 0
with tempfile.TemporaryDirectory() as d:
    lines, expect = [], []
    k = 0
    for s1, s2 in cases:
        a = rng.standard_normal(s1).astype(np.float32)
        b = rng.standard_normal(s2).astype(np.float32)
        for op in ("convolve", "correlate"):
            for mode in ("full", "same", "valid"):
                if mode == "valid" and len(s1) == 2 and not (
                        all(x >= y for x, y in zip(s1, s2)) or all(x <= y for x, y in zip(s1, s2))):
                    continue
                pa, pb, po = (os.path.join(d, f"{k}_{n}.npy") for n in "abo")
                np.save(pa, a)
                np.save(pb, b)
                ref = getattr(signal, op)(a.astype(np.float64), b.astype(np.float64), mode=mode, method="direct")
                lines.append(f"{op} {mode} {pa} {pb} {po}\n")
                expect.append((f"{op} {mode} {s1} {s2}", po, ref))
                k += 1
    lst = os.path.join(d, "cases.txt")
    with open(lst, "w") as f:
        f.writelines(lines)
    r = subprocess.run([tool, lst], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: fft_scipy_tool exited {r.returncode}: {r.stderr.strip()}")
        failures += 1
    for what, po, ref in expect:
        if not os.path.exists(po):
            print(f"FAIL: {what}: no output")
            failures += 1
            continue
        got = np.load(po)
        if got.shape != ref.shape:
            print(f"FAIL: {what}: shape {got.shape}, scipy {ref.shape}")
            failures += 1
            continue
        scale = np.abs(ref).max()
        err = np.abs(got - ref).max() / (scale if scale > 0 else 1.0)
        if not err <= 1e-5:
            print(f"FAIL: {what}: error {err:.3g} of the largest magnitude")
            failures += 1

print(f"{len(expect)} cases, {failures} failures")
sys.exit(1 if failures else 0)
