#!/usr/bin/python3
"""Time convc's compiled workloads against PyTorch on the same inputs.

The convc side is the objects that bench/bench.c links (built with
--target-cpu=native), here in one shared library called through ctypes,
plus a build of each script whose weights are load() constants (NAME_const,
taking x alone) and one whose input x has symbolic height and width
(NAME_sym); the PyTorch side is torch.nn.functional in inference mode,
once with the default contiguous NCHW tensors and once with tensors in
channels_last memory format (converted before timing, as a model kept in
that format would be).  convc and the two PyTorch calls run in turn, sample
by sample, in this one process, so the ratios between them come from
interleaved samples as in bench.c; then the three convc builds run in
turn in a round of their own.

    torch_peer.py --lib LIB --data DIR --threads N [--seconds S] [--only W1,W2]

DIR holds DIR/ID/NAME.npy for every input and DIR/ID/args with the names in
argument order, as written by `bench --data DIR`, so both peers see the same
numbers.  Output: one JSON object per line on stdout (bench/report.py reads
them), progress on stderr.  Exit status 1 if a convc result differs from
PyTorch's by more than 1e-3 (max |convc - torch| / max |torch|).
"""
import argparse
import ctypes
import json
import os
import re
import sys
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-3
MIN_SAMPLES, MAX_SAMPLES = 3, 201
MAX_RANK = 8  # CONVRT_MAX_RANK


# The workloads of bench/workloads/, written the way a PyTorch user would:
# functional calls, activations and the residual add in place where PyTorch
# allows it.  Arguments are the pipeline's inputs in script order.
def w1(x, w1):
    return F.conv2d(x, w1, padding=1)


def w2(x, w1):
    return F.conv2d(x, w1)


def w3(x, w1):
    return F.conv2d(x, w1, stride=2, padding=1)


def w4(x, w1):
    return F.conv2d(x, w1, padding=2, dilation=2)


def w5(x, w1):
    return F.conv2d(x, w1, padding=1, groups=w1.shape[0])


def w6(x, w1, b1):
    return F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1), inplace=True), 2)


def w7(x, w1):
    return F.max_pool2d(F.conv2d(x, w1, stride=2, padding=3), 3, stride=2, padding=1)


def w10(x, w1, b1, w2, b2):
    h = F.relu(F.conv2d(x, w1, b1, padding=1), inplace=True)
    y = F.conv2d(h, w2, b2, padding=1)
    y += x
    return F.relu(y, inplace=True)


def w11(x, w1, b1, w2, b2, w3, b3):
    e = F.relu6(F.conv2d(x, w1, b1), inplace=True)
    d = F.relu6(F.conv2d(e, w2, b2, padding=1, groups=w2.shape[0]), inplace=True)
    y = F.conv2d(d, w3, b3)
    y += x
    return y


# The common single layers: one convolution each, no bias, no activation.
def l1(x, w1):
    return F.conv2d(x, w1, padding=1)


def l2(x, w1):
    return F.conv2d(x, w1, padding=1)


def l3(x, w1):
    return F.conv2d(x, w1, padding=1)


def l4(x, w1):
    return F.conv2d(x, w1, stride=2, padding=1)


def l5(x, w1):
    return F.conv2d(x, w1)


def l6(x, w1):
    return F.conv2d(x, w1)


def l7(x, w1):
    return F.conv2d(x, w1)


def l8(x, w1):
    return F.conv2d(x, w1, stride=2)


def l9(x, w1):
    return F.conv2d(x, w1, padding=1)


def l10(x, w1):
    return F.conv2d(x, w1, padding=1, groups=w1.shape[0])


def l11(x, w1):
    return F.conv2d(x, w1, stride=2, padding=1, groups=w1.shape[0])


def l12(x, w1):
    return F.conv2d(x, w1, padding=1, groups=32)


WORKLOADS = [
    ("W1", "w1_conv3x3_64_56", w1),
    ("W2", "w2_conv1x1_256_64_56", w2),
    ("W3", "w3_conv3x3s2_128_28", w3),
    ("W4", "w4_conv3x3d2_64_56", w4),
    ("W5", "w5_dw3x3_128_112", w5),
    ("W6", "w6_conv3x3_relu_maxpool_64_56", w6),
    ("W7", "w7_stem7x7s2_maxpool_224", w7),
    ("W10", "w10_resnet_basic_64_56", w10),
    ("W11", "w11_mbv2_inverted_24_56", w11),
    ("L1", "l1_conv3x3_128_28", l1),
    ("L2", "l2_conv3x3_256_14", l2),
    ("L3", "l3_conv3x3_512_7", l3),
    ("L4", "l4_conv3x3s2_256_512_14", l4),
    ("L5", "l5_conv1x1_256_1024_14", l5),
    ("L6", "l6_conv1x1_1024_256_14", l6),
    ("L7", "l7_conv1x1_2048_512_7", l7),
    ("L8", "l8_conv1x1s2_256_512_56", l8),
    ("L9", "l9_conv3x3_3_64_224", l9),
    ("L10", "l10_dw3x3_576_14", l10),
    ("L11", "l11_dw3x3s2_144_56", l11),
    ("L12", "l12_gconv3x3g32_128_56", l12),
]


class Tensor(ctypes.Structure):
    """convrt_tensor from convrt.h."""
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)),
                ("rank", ctypes.c_int32),
                ("dims", ctypes.c_int64 * MAX_RANK)]


def aligned(a, align=64):
    """A C-contiguous float32 copy of a whose data starts on an `align`-byte
    boundary, as bench.c's buffers and PyTorch's own tensors do (numpy's
    start 16 bytes past one here, which cost convc's vector loads and
    stores on W5 about 20%)."""
    a = np.asarray(a, dtype=np.float32)
    buf = np.empty(a.nbytes + align, dtype=np.uint8)
    off = (-buf.ctypes.data) % align
    out = buf[off:off + a.nbytes].view(np.float32).reshape(a.shape)
    out[...] = a
    return out


def as_tensor(a):
    """A convrt_tensor viewing the C-contiguous float32 array a (keep a alive)."""
    t = Tensor()
    t.data = a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    t.rank = a.ndim
    for i, n in enumerate(a.shape):
        t.dims[i] = n
    return t


class Convc:
    """One compiled pipeline with its arguments bound, ready to call."""

    def __init__(self, lib, name, arrays):
        self.arrays = arrays  # the tensors below point into these
        self.inputs = [as_tensor(a) for a in arrays]
        out = Tensor()
        shapes = getattr(lib, name + "_output_shapes")
        if shapes(*[ctypes.byref(t) for t in self.inputs], ctypes.byref(out)) != 0:
            raise SystemExit(f"torch_peer: {name}_output_shapes failed")
        self.out = aligned(np.zeros([out.dims[i] for i in range(out.rank)], dtype=np.float32))
        self.out_tensor = as_tensor(self.out)
        self.fn = getattr(lib, name)
        self.args = [ctypes.byref(t) for t in self.inputs] + [ctypes.byref(self.out_tensor)]

    def __call__(self):
        if self.fn(*self.args) != 0:
            raise SystemExit("torch_peer: a convc pipeline failed")


def other_thread_running():
    """Does another thread of this process run (state R in /proc)?  See
    bench.c for why the process's CPU time would not tell."""
    me = threading.get_native_id()
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread has just ended
        if stat[stat.rindex(")") + 2] == "R":
            return True
    return False


def settle():
    """Wait until no other thread of this process runs: PyTorch's OpenMP
    threads spin for a while after their last parallel region."""
    for _ in range(2000):
        if not other_thread_running():
            return
        time.sleep(0.00025)


def time_interleaved(fns, budget_s):
    """Median seconds per call of each fn, sampled in turn; see bench.c."""
    batch = []
    for fn in fns:
        t0, calls = time.perf_counter(), 0
        while calls < 1 or time.perf_counter() - t0 < 0.1:
            fn()
            calls += 1
        per = (time.perf_counter() - t0) / calls
        batch.append(1 if per >= 0.005 else int(0.005 / per))
    samples = [[] for _ in fns]
    start = time.perf_counter()
    while len(samples[0]) < MAX_SAMPLES and (len(samples[0]) < MIN_SAMPLES
                                             or time.perf_counter() - start < budget_s):
        for fn, n, s in zip(fns, batch, samples):
            fn()                # untimed: see bench.c
            settle()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            s.append((time.perf_counter() - t0) / n)
    medians = [sorted(s)[len(s) // 2] for s in samples]
    return medians, len(samples[0])


def max_rel_err(a, ref):
    """max |a - ref| / max |ref|, as in bench.c (NaN counts as infinite)."""
    ref = np.asarray(ref, dtype=np.float64)
    diff = np.abs(np.asarray(a, dtype=np.float64) - ref)
    if np.isnan(diff).any():
        return float("inf")
    scale = np.abs(ref).max()
    return float(diff.max() / scale) if scale > 0 else float("inf")


# Wrappers that every conv2d/max_pool2d call goes through; the report shows
# the operators under them, which name the kernel PyTorch chose.
WRAPPERS = {"aten::conv2d", "aten::convolution", "aten::_convolution", "aten::max_pool2d"}


def kernels_used(fn, args):
    """The convolution and pooling operators one call of fn runs, in order."""
    with torch.autograd.profiler.profile() as prof:
        fn(*args)
    names = []
    for e in prof.function_events:
        if (("conv" in e.name or "pool" in e.name) and e.name not in WRAPPERS
                and e.name not in names):
            names.append(e.name)
    return ", ".join(n.replace("aten::", "") for n in names) or "?"


def torch_config():
    """Version facts of this PyTorch build that matter for its speed."""
    show = torch.__config__.show()
    dnnl = re.search(r"MKL-DNN (v[0-9.]+)", show)
    cap = re.search(r"CPU capability usage: (\S+)", show)
    return {"torch": torch.__version__, "dnnl": dnnl.group(1) if dnnl else "?",
            "capability": cap.group(1) if cap else "?"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--only")
    opt = ap.parse_args()

    lib = ctypes.CDLL(os.path.abspath(opt.lib))
    torch.set_num_threads(opt.threads)
    lib.convrt_set_num_threads(opt.threads)
    if lib.convrt_get_num_threads() != opt.threads or torch.get_num_threads() != opt.threads:
        raise SystemExit("torch_peer: could not set the thread count of convrt and PyTorch")
    print(json.dumps({"proc": "torch", "meta": True, "threads": opt.threads, **torch_config()}),
          flush=True)

    only = {w.upper() for w in opt.only.split(",")} if opt.only else None
    failed = False
    for wid, name, forward in WORKLOADS:
        if only and wid not in only:
            continue
        print(f"torch_peer: {wid}, {opt.threads} thread{'s' if opt.threads > 1 else ''}: "
              "convc, torch NCHW, torch channels_last, convc with load() weights",
              file=sys.stderr, flush=True)
        d = os.path.join(opt.data, wid)
        with open(os.path.join(d, "args")) as f:
            names = f.read().split()
        arrays = [aligned(np.load(os.path.join(d, n + ".npy"))) for n in names]
        convc = Convc(lib, name, arrays)
        # the same script with its weights as load() constants: x alone
        convc_const = Convc(lib, name + "_const", arrays[:1])
        convc_sym = Convc(lib, name + "_sym", arrays)
        nchw = [torch.from_numpy(aligned(a)) for a in arrays]
        cl = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in nchw]

        with torch.inference_mode():
            convc()
            convc_const()
            convc_sym()
            y_nchw = forward(*nchw).contiguous().numpy().copy()
            y_cl = forward(*cl).contiguous().numpy().copy()
            errs = {"torch": max_rel_err(convc.out, y_nchw), "torch-cl": max_rel_err(convc.out, y_cl)}
            errs_const = {"torch": max_rel_err(convc_const.out, y_nchw)}
            errs_sym = {"torch": max_rel_err(convc_sym.out, y_nchw)}
            notes = {"torch": kernels_used(forward, nchw), "torch-cl": kernels_used(forward, cl)}
            (t_convc, t_nchw, t_cl), ns = time_interleaved(
                [convc, lambda: forward(*nchw), lambda: forward(*cl)], opt.seconds)
            # The three convc builds in a round of their own: they compete
            # with each other, not with PyTorch's use of the caches.
            (t_pair, t_const, t_sym), _ = time_interleaved([convc, convc_const, convc_sym],
                                                           opt.seconds / 2)

        base = {"proc": "torch", "id": wid, "threads": opt.threads, "samples": ns}
        print(json.dumps({**base, "impl": "convc", "ms": t_convc * 1e3, "checks": errs}))
        print(json.dumps({**base, "impl": "convc-const", "ms": t_const * 1e3,
                          "native_ms": t_pair * 1e3, "checks": errs_const}))
        print(json.dumps({**base, "impl": "convc-sym", "ms": t_sym * 1e3,
                          "native_ms": t_pair * 1e3, "checks": errs_sym}))
        print(json.dumps({**base, "impl": "torch", "ms": t_nchw * 1e3, "note": notes["torch"]}))
        print(json.dumps({**base, "impl": "torch-cl", "ms": t_cl * 1e3, "note": notes["torch-cl"]}),
              flush=True)
        # every build computes each output's sum in the same order
        for what, other in [("load() weights", convc_const), ("symbolic sizes", convc_sym)]:
            if not np.array_equal(other.out, convc.out):
                print(f"torch_peer: FAIL {wid}: convc with {what} does not give the bits of "
                      "the runtime-weight, constant-size build", file=sys.stderr)
                failed = True
        for what, err in [(f"convc and {p}", e) for p, e in errs.items()] + \
                [("convc with load() weights and torch", errs_const["torch"]),
                 ("convc with symbolic sizes and torch", errs_sym["torch"])]:
            if not err <= TOLERANCE:
                print(f"torch_peer: FAIL {wid}: max relative error {err:.3g} > {TOLERANCE} "
                      f"between {what}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
