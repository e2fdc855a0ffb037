"""Time the runtime's FFT convolutions against SciPy on the same arrays.

Usage: /usr/bin/python3 bench/fft_scipy.py [--lib build/runtime/libconvrt.so]
           [--reps N] [--threads 1,2] [--only 1d|2d]

convrt_fft_conv1d/2d are called through ctypes in the same process as
scipy.signal.fftconvolve and oaconvolve, with the same float32 arrays
(SciPy then computes in float32 too).  Every repetition runs each
implementation once, in an order rotated from one repetition to the next,
so that a noisy machine slows all of them alike; the report gives the
median wall time and the median CPU time of the process (CPU time is
steadier on a loaded machine; with 2 threads it adds up both threads, so
compare wall times there).  The error is max|ours - ref| / max|ref| with
ref from fftconvolve in float64.  Not part of the tests."""
import argparse
import ctypes
import os
import time

import numpy as np
from scipy import signal

ap = argparse.ArgumentParser()
here = os.path.dirname(os.path.abspath(__file__))
ap.add_argument("--lib", default=os.path.join(here, "..", "build", "runtime", "libconvrt.so"))
ap.add_argument("--reps", type=int, default=21)
ap.add_argument("--threads", default="1,%d" % os.cpu_count())
ap.add_argument("--only", choices=["1d", "2d"])
o = ap.parse_args()

lib = ctypes.CDLL(o.lib)
I, P = ctypes.c_int64, ctypes.c_void_p
conv1d = lib.convrt_fft_conv1d
conv1d.argtypes = [I, I, P, I, I, P, I, I, P, I, I, I]
conv2d = lib.convrt_fft_conv2d
conv2d.argtypes = [I, I, P, I, I, I, I, P, I, I, I, I, P, I, I, I, I, I, I]
lib.convrt_set_num_threads.argtypes = [ctypes.c_int]
rng = np.random.default_rng(0)


def case1d(n1, n2):
    a = rng.standard_normal(n1).astype(np.float32)
    b = rng.standard_normal(n2).astype(np.float32)
    out = np.empty(n1 + n2 - 1, np.float32)

    def ours():
        assert conv1d(0, 1, a.ctypes.data, n1, 0, b.ctypes.data, n2, 0, out.ctypes.data, 0, out.size, 0) == 0
    return f"1-D full {n1} x {n2}", a, b, out, ours, "full"


def case2d(h, w, k):
    a = rng.standard_normal((h, w)).astype(np.float32)
    b = rng.standard_normal((k, k)).astype(np.float32)
    out = np.empty((h, w), np.float32)
    s = (k - 1) // 2

    def ours():
        assert conv2d(0, 1, a.ctypes.data, h, w, w, 0, b.ctypes.data, k, k, k, 0, out.ctypes.data, s, h, s, w, w,
                      0) == 0
    return f"2-D same {h}x{w} * {k}x{k}", a, b, out, ours, "same"


cases = []
if o.only != "2d":
    cases += [case1d(1 << 20, 4096), case1d(200000, 22050)]
if o.only != "1d":
    cases += [case2d(3000, 4000, 31), case2d(3000, 4000, 64)]

for name, a, b, out, ours, mode in cases:
    impls = {"convrt": ours,
             "fftconvolve": lambda: signal.fftconvolve(a, b, mode=mode),
             "oaconvolve": lambda: signal.oaconvolve(a, b, mode=mode)}
    reps = o.reps if a.size < 10**7 else max(3, o.reps // 4)
    for th in [int(t) for t in o.threads.split(",")]:
        lib.convrt_set_num_threads(th)
        ours()                                 # plans and work memory
        wall = {k: [] for k in impls}
        cpu = {k: [] for k in impls}
        keys = list(impls)
        for r in range(reps):
            for k in keys[r % 3:] + keys[:r % 3]:
                t0, c0 = time.perf_counter(), time.process_time()
                impls[k]()
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
        ref = signal.fftconvolve(a.astype(np.float64), b.astype(np.float64), mode=mode)
        err = np.abs(out - ref).max() / np.abs(ref).max()
        cells = "  ".join(f"{k} {np.median(wall[k]) * 1e3:7.2f} ms (cpu {np.median(cpu[k]) * 1e3:7.2f})"
                          for k in impls)
        print(f"{name:32s} threads={th}  {cells}  error {err:.2e}", flush=True)
