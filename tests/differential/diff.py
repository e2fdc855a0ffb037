#!/usr/bin/env python3
"""Differential tests: random .conv pipelines against a float64 NumPy/SciPy reference.

usage: diff.py CONVC --seed S --cases N [--family F] [--keep DIR] [--only I] [-v]

  --family F   conv2d | conv1d | pool | signal | chain | reject | all   (default all)
  --keep DIR   save every failing case to DIR/<family>_s<seed>_c<i>/ in the
               conformance layout (script.conv, in_*.npy, expect_*.npy, case.json),
               so that `tests/conformance/run.py CONVC DIR` replays it
  --only I     run only case number I of the seed (to replay one failure)
  -v           print every case, not only the failures

Every case i of seed S draws from numpy's default_rng([S, i, family]); a case is
reproduced exactly by the same seed, family and index.  The references are
written from the definitions the language promises (docs/language.md,
the spec): torch.nn.functional.conv1d/conv2d with padding_mode and
padding='same', max_pool/avg_pool with ceil_mode, dilation and
count_include_pad, and scipy.signal.convolve/correlate (method='direct').
PyTorch is not needed: the convolutions and pools are computed here directly,
in float64, from the float32 values given to convc.

The `reject` family writes scripts the language must refuse (convc check exit
1 with a `script.conv:LINE:COL: error` diagnostic) and runs whose size
symbols break a rule only known at run time (convc run exit 1, no output).

Tolerance as in the conformance runner:
|got - ref| <= 1e-4 * max(1, max|ref|) + 1e-4 * |ref|; infinities must match.
The last line reads `N passed, M failed`.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile

import numpy as np
import scipy.signal

RTOL = 1e-4
FAMILIES = ["conv2d", "conv1d", "pool", "signal", "chain", "reject"]
FAMILY_ID = {f: k for k, f in enumerate(FAMILIES)}


# ---------------------------------------------------------------------------
# reference implementations (float64)
# ---------------------------------------------------------------------------

NP_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def out_size(n, k, s, p0, p1, d, ceil=False):
    num = n + p0 + p1 - d * (k - 1) - 1
    if num < 0 and not ceil:
        return num // s + 1
    o = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p0:      # PyTorch: drop a window starting in the right pad
        o -= 1
    return o


def ref_conv(x, w, nsp, bias=None, stride=None, p0=None, p1=None, dil=None, groups=1,
             pad_mode="zeros", flip=False):
    """F.conv1d/conv2d (nn.ConvNd with padding_mode) on [.., C, *sp]; a weight of
    rank nsp is a per-channel filter applied to every plane of [.., *sp]."""
    stride = stride or [1] * nsp
    dil = dil or [1] * nsp
    p0 = p0 or [0] * nsp
    p1 = p1 or [0] * nsp
    per_channel = w.ndim == nsp
    if flip:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * nsp]
    if per_channel:
        lead = x.shape[:-nsp]
        xb = x.reshape((-1, 1) + x.shape[-nsp:])
        wb = w.reshape((1, 1) + w.shape)
        groups = 1
    else:
        lead = x.shape[:-nsp - 1]
        xb = x.reshape((-1,) + x.shape[-nsp - 1:])
        wb = w
    sp = xb.shape[2:]
    ks = wb.shape[2:]
    padw = [(0, 0), (0, 0)] + [(p0[i], p1[i]) for i in range(nsp)]
    mode = NP_PAD[pad_mode]
    xp = np.pad(xb, padw, mode=mode) if mode != "constant" else np.pad(xb, padw)
    o = [out_size(sp[i], ks[i], stride[i], p0[i], p1[i], dil[i]) for i in range(nsp)]
    assert all(v >= 1 for v in o), o
    N = xb.shape[0]
    K, Cg = wb.shape[:2]
    Kg = K // groups
    out = np.zeros((N, K) + tuple(o))
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        ws = wb[g * Kg:(g + 1) * Kg]
        for kidx in np.ndindex(*ks):
            sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + stride[i] * (o[i] - 1) + 1, stride[i])
                       for i in range(nsp))
            patch = xs[(slice(None), slice(None)) + sl]
            wk = ws[(slice(None), slice(None)) + kidx]
            out[:, g * Kg:(g + 1) * Kg] += np.einsum("nc...,kc->nk...", patch, wk)
    if bias is not None:
        out += bias.reshape((1, K) + (1,) * nsp)
    if per_channel:
        return out.reshape(lead + tuple(o))
    return out.reshape(lead + (K,) + tuple(o))


def ref_pool(x, nsp, k, s, p, d, ceil, is_max, count_pad=True):
    """F.max_poolNd / F.avg_poolNd on the last nsp dims."""
    n = x.shape[-nsp:]
    lead = x.shape[:-nsp]
    o = [out_size(n[i], k[i], s[i], p[i], p[i], d[i], ceil) for i in range(nsp)]
    assert all(v >= 1 for v in o), o
    xb = x.reshape((-1,) + n)
    right = [max(p[i], (o[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (n[i] + p[i])) for i in range(nsp)]
    padw = [(0, 0)] + [(p[i], right[i]) for i in range(nsp)]
    xp = np.pad(xb, padw, constant_values=(-np.inf if is_max else 0.0))
    acc = np.full((xb.shape[0],) + tuple(o), -np.inf if is_max else 0.0)
    for kidx in np.ndindex(*k):
        sl = tuple(slice(kidx[i] * d[i], kidx[i] * d[i] + s[i] * (o[i] - 1) + 1, s[i]) for i in range(nsp))
        patch = xp[(slice(None),) + sl]
        acc = np.maximum(acc, patch) if is_max else acc + patch
    if not is_max:
        div = np.ones(tuple(o))
        for i in range(nsp):
            st = np.arange(o[i]) * s[i] - p[i]
            en = np.minimum(st + k[i], n[i] + p[i])
            cnt = en - st if count_pad else np.minimum(en, n[i]) - np.maximum(st, 0)
            shape = [1] * nsp
            shape[i] = o[i]
            div = div * cnt.reshape(shape)
        acc = acc / div
    return acc.reshape(lead + tuple(o))


def gaussian(n, sigma):
    i = np.arange(n)
    g = np.exp(-((i - (n - 1) / 2) / sigma) ** 2 / 2)
    return g / g.sum()


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


# ---------------------------------------------------------------------------
# case building
# ---------------------------------------------------------------------------

class Val:
    def __init__(self, expr, v):
        self.expr = expr      # text usable as an operand
        self.v = v            # float64 reference value


class Case:
    def __init__(self, rng, family):
        self.rng = rng
        self.family = family
        self.lines = []
        self.inputs = {}      # name -> float32 array
        self.files = {}       # file name -> float32/64 array (for load)
        self.outputs = {}     # name -> reference
        self.names = 0
        self.syms = {}        # symbol -> value
        self.desc = []
        self.expect_check_error = None    # reject family: expected diagnostic line
        self.expect_run_error = False
        self.run_opts = []

    def snapshot(self):
        return (list(self.lines), dict(self.inputs), dict(self.files), dict(self.outputs),
                self.names, dict(self.syms), list(self.desc))

    def restore(self, snap):
        (self.lines, self.inputs, self.files, self.outputs, self.names, self.syms, self.desc) = \
            (list(snap[0]), dict(snap[1]), dict(snap[2]), dict(snap[3]), snap[4], dict(snap[5]), list(snap[6]))

    def fresh(self, base):
        self.names += 1
        return f"{base}{self.names}"

    def r(self, *a):
        return self.rng.integers(*a)

    def chance(self, p):
        return self.rng.random() < p

    def choice(self, seq):
        return seq[self.rng.integers(len(seq))]

    def data(self, shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def input(self, arr, base="x", sym=None):
        """Declare a runtime input.  sym: list of symbol names (or None) per dim."""
        name = self.fresh(base)
        arr = np.asarray(arr, dtype=np.float32)
        dims = []
        for i, n in enumerate(arr.shape):
            s = sym[i] if sym else None
            if s is not None:
                if s in self.syms and self.syms[s] != n:
                    s = None
                else:
                    self.syms[s] = n
            dims.append(s if s is not None else str(n))
        self.lines.append(f"input {name}: f32[{', '.join(dims)}]")
        self.inputs[name] = arr
        return Val(name, f32(arr))

    def weight(self, arr, base="w", allow_const=True):
        """A weight tensor: a runtime input, a literal constant or a load()."""
        u = self.rng.random()
        if not allow_const or u < 0.55:
            return self.input(arr, base)
        q = np.round(np.asarray(arr, dtype=np.float64) * 64) / 64      # exact in text
        name = self.fresh(base)
        if u < 0.85:
            self.lines.append(f"const {name} = {literal(q)}")
        else:
            fn = f"{name}.npy"
            self.files[fn] = q.astype(np.float64 if self.chance(0.5) else np.float32)
            decl = f": f32[{', '.join(map(str, q.shape))}]" if self.chance(0.5) else ""
            self.lines.append(f'const {name}{decl} = load("{fn}")')
        return Val(name, f32(q))

    def bind(self, expr, v, base="t"):
        name = self.fresh(base)
        self.lines.append(f"{name} = {expr}")
        return Val(name, v)

    def output(self, expr, v, base="y"):
        name = self.fresh(base)
        self.lines.append(f"output {name} = {expr}")
        self.outputs[name] = v
        return Val(name, v)

    def output_val(self, val):
        """Make an already bound value an output (`output NAME`)."""
        self.lines.append(f"output {val.expr}")
        self.outputs[val.expr] = val.v

    def script(self):
        body = "\n".join("  " + l for l in self.lines)
        return f"# {self.family}: {'; '.join(self.desc)}\npipeline p {{\n{body}\n}}\n"


def num(x):
    if float(x) == int(x) and abs(x) < 1e9:
        return str(int(x))
    return repr(float(x))


def literal(a):
    if a.ndim == 1:
        return "[" + ", ".join(num(v) for v in a) + "]"
    return "[" + ", ".join(literal(r) for r in a) + "]"


def opt_int_pair(c, vals, nsp, force=False):
    """Text for an int-or-pair option."""
    if nsp == 2 and (vals[0] != vals[1] or (force or c.chance(0.2))):
        return f"({vals[0]}, {vals[1]})"
    return str(vals[0])


def call(c, stage, x, args, opts):
    """Stage call text; sometimes in pipe form; options in random order."""
    opts = list(opts)
    c.rng.shuffle(opts)
    rest = [a for a in args] + [f"{k}={v}" for k, v in opts]
    if c.chance(0.3):
        return f"{x} |> {stage}({', '.join(rest)})" if rest else f"{x} |> {stage}"
    return f"{stage}({', '.join([x] + rest)})"


# ---------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------

def small_dim(c):
    return int(c.choice([1, 1, 2, 2, 3, 3, 4, 5, 6]))


def gen_conv_stage(c, x, nsp, xshape_sp, C, allow_same=True, want_K=None, per_channel=None,
                   sym_x=False, long_row=False):
    """Draw conv params valid for spatial size xshape_sp; returns (expr, ref) or None.
    long_row (a per-channel 2-D filter): kernel rows longer than a vector,
    their taps unrolled (1-3 rows of 17-64 taps), or on rows of 1400
    columns and more a separable Gaussian of 31-41 taps (column tiles)."""
    rng = c.rng
    if per_channel is None:
        per_channel = c.chance(0.25)
    k = [int(c.r(1, 6)) for _ in range(nsp)]
    builtin = None
    if per_channel and nsp == 2 and c.chance(0.3):
        builtin = c.choice(["sobel_x", "sobel_y", "laplacian", "box2d", "gaussian2d"])
        if builtin in ("box2d", "gaussian2d"):
            k = [int(c.r(1, 6))] * 2
        else:
            k = [3, 3]
    if per_channel and nsp == 1 and c.chance(0.3):
        builtin = c.choice(["box", "gaussian"])
    if long_row and xshape_sp[-1] >= 1400:
        n = int(c.choice([31, 35, 41]))
        k, builtin = [n, n], "gaussian2d"
    elif long_row:
        kh = int(c.choice([1, 2, 3]))
        k, builtin = [kh, int(c.r(17, 64 // kh + 1))], None
    dil = [int(c.choice([1, 1, 1, 2, 3])) for _ in range(nsp)]
    stride = [int(c.choice([1, 1, 1, 2, 3])) for _ in range(nsp)]
    if long_row:
        dil, stride = [1] * nsp, [1] * nsp
    pad_kind = c.choice(["int", "int", "pair", "same", "valid", "full", "none"])
    if pad_kind == "pair" and nsp == 1:
        pad_kind = "int"
    if pad_kind == "same" and not allow_same:
        pad_kind = "int"
    if pad_kind == "same":
        if c.chance(0.8):
            stride = [1] * nsp
        else:
            return None
    p0, p1 = [0] * nsp, [0] * nsp
    if pad_kind in ("int", "pair"):
        pv = [int(c.choice([0, 1, 1, 2, 2, 3, 4]))]
        pv = pv * nsp if pad_kind == "int" else [pv[0], int(c.choice([0, 1, 2, 3]))]
        p0 = p1 = pv
    elif pad_kind == "same":
        tot = [dil[i] * (k[i] - 1) for i in range(nsp)]
        p0 = [t // 2 for t in tot]
        p1 = [tot[i] - p0[i] for i in range(nsp)]
    elif pad_kind == "full":
        p0 = p1 = [dil[i] * (k[i] - 1) for i in range(nsp)]
    pad_mode = c.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
    # validity on the given input size
    for i in range(nsp):
        n = xshape_sp[i]
        if out_size(n, k[i], stride[i], p0[i], p1[i], dil[i]) < 1:
            return None
        if pad_mode == "reflect" and max(p0[i], p1[i]) >= n:
            return None
        if pad_mode == "circular" and max(p0[i], p1[i]) > n:
            return None
    opts = []
    if stride != [1] * nsp or c.chance(0.1):
        opts.append(("stride", opt_int_pair(c, stride, nsp)))
    if dil != [1] * nsp or c.chance(0.1):
        opts.append(("dilation", opt_int_pair(c, dil, nsp)))
    if pad_kind in ("int", "pair"):
        opts.append(("pad", opt_int_pair(c, p0, nsp, force=pad_kind == "pair")))
    elif pad_kind != "none":
        opts.append(("pad", pad_kind))
    if pad_mode != "zeros" or c.chance(0.1):
        opts.append(("pad_mode", pad_mode))
    flip = c.chance(0.25)
    if flip or c.chance(0.05):
        opts.append(("flip", "true" if flip else "false"))
    groups, bias = 1, None
    if per_channel:
        if builtin is None:
            w = c.weight(c.data(k))
        elif builtin == "sobel_x":
            w = Val("sobel_x", SOBEL_X)
        elif builtin == "sobel_y":
            w = Val("sobel_y", SOBEL_X.T.copy())
        elif builtin == "laplacian":
            w = Val("laplacian", LAPLACIAN)
        elif builtin == "box2d":
            w = Val(f"box2d({k[0]})", f32(np.full(k, 1.0 / (k[0] * k[0]))))
        elif builtin == "box":
            w = Val(f"box({k[0]})", f32(np.full(k, 1.0 / k[0])))
        else:
            sig = float(c.choice([0.5, 1, 1.5, 2.25]))
            g = gaussian(k[0], sig)
            w = Val(f"{'gaussian2d' if nsp == 2 else 'gaussian'}({k[0]}, {num(sig)})",
                    f32(np.outer(g, g) if nsp == 2 else g))
    else:
        divs = [g for g in range(1, C + 1) if C % g == 0]
        groups = int(c.choice(divs)) if c.chance(0.4) else 1
        K = want_K if want_K is not None else groups * int(c.r(1, 4))
        if K % groups:
            groups = 1
        if groups != 1 or c.chance(0.1):
            opts.append(("groups", str(groups)))
        w = c.weight(c.data([K, C // groups] + k))
        if c.chance(0.5):
            bias = c.weight(c.data([K]), "b")
            opts.append(("bias", bias.expr))
    ref = ref_conv(x.v, w.v, nsp, bias=bias.v if bias else None, stride=stride, p0=p0, p1=p1,
                   dil=dil, groups=groups, pad_mode=pad_mode, flip=flip)
    # the algorithms other than the direct sum, where they apply (their
    # rounding differs, within the tolerance)
    method = None
    unit = stride == [1] * nsp and dil == [1] * nsp
    one_channel = per_channel or w.v.shape[1] == 1
    if long_row and builtin == "gaussian2d":
        method = "separable"
    elif unit and one_channel and c.chance(0.15):
        method = "fft"
    elif unit and per_channel and nsp == 2 and builtin in ("box2d", "gaussian2d", "sobel_x", "sobel_y") \
            and c.chance(0.3):
        method = "separable"
    elif c.chance(0.1):
        method = "auto"
    if method:
        opts.append(("method", method))
    stage = "conv2d" if nsp == 2 else "conv1d"
    c.desc.append(f"{stage} k={k} s={stride} d={dil} p={p0}/{p1} {pad_mode} g={groups} "
                  f"flip={flip} pc={per_channel} method={method}")
    return call(c, stage, x.expr, [w.expr], opts), ref


def gen_conv_family(c, nsp):
    for _ in range(200):
        per_channel = c.chance(0.25)
        nb = int(c.choice([0, 0, 0, 1, 1, 2]))
        C = int(c.r(1, 7)) if not per_channel else int(c.r(1, 4))
        batch = [int(c.r(1, 4)) for _ in range(nb)]
        sp = [int(c.r(1, 13)) for _ in range(nsp)]
        if c.chance(0.3):       # often at the smallest sizes, where padding rules bite
            sp = [int(c.r(1, 5)) for _ in range(nsp)]
        elif c.chance(0.1):     # sometimes past vector widths and tiles
            sp[-1] = int(c.r(13, 70))
            if c.chance(0.3):
                C = int(c.r(7, 24)) if not per_channel else C
        # sometimes many channels on a small plane, where the vector
        # kernels take channel vectors (conv-chan: 16 output channels a
        # group and a reduction of 256 or more, its items packing runtime
        # weights; on CPUs with two FMAs a cycle stride 1 too) or the
        # plane kernel's channel blocks
        want_K = None
        if nsp == 2 and not per_channel and c.chance(0.12):
            C = int(c.choice([32, 40, 64, 272])) if c.chance(0.8) else int(c.r(16, 48))
            want_K = int(c.choice([16, 24, 32, 40, 48]))
            lim = 10 if C > 64 else 16
            sp = [int(c.r(3, lim + 1)) for _ in range(nsp)]
            if C <= 64 and c.chance(0.2):       # about the largest plane it takes there
                sp = [int(c.r(24, 36)), int(c.r(24, 36))]
            batch = batch[:1]
        long_row = nsp == 2 and per_channel and c.chance(0.3)
        if long_row:
            sp = [int(c.r(2, 24)), int(c.r(40, 220))]
            if c.chance(0.35):
                sp = [int(c.r(16, 36)), int(c.r(1400, 2100))]
                batch = batch[:1]
        shape = batch + ([C] if (not per_channel or c.chance(0.5)) else []) + sp
        sym = None
        if c.chance(0.3):
            names = ["H", "W"] if nsp == 2 else ["L"]
            sym = [None] * (len(shape) - nsp) + names
            if not per_channel and c.chance(0.3):
                sym[len(shape) - nsp - 1] = "C"
            if batch and c.chance(0.5):
                sym[0] = "N"
        snap = c.snapshot()
        x = c.input(c.data(shape), sym=sym)
        res = gen_conv_stage(c, x, nsp, sp, C if not per_channel else 1, per_channel=per_channel,
                             long_row=long_row, want_K=want_K)
        if res is None:
            c.restore(snap)
            continue
        expr, ref = res
        c.output(expr, ref)
        return
    raise RuntimeError("no valid conv case")


def gen_pool_stage(c, x, nsp, sp, is_max=None):
    if is_max is None:
        is_max = c.chance(0.5)
    k = [int(c.r(1, 6)) for _ in range(nsp)]
    if nsp == 2 and c.chance(0.5):
        k = [k[0], k[0]]
    stride_given = c.chance(0.7)
    stride = [int(c.choice([1, 1, 2, 2, 3])) for _ in range(nsp)] if stride_given else list(k)
    p = [int(c.r(0, k[i] // 2 + 1)) for i in range(nsp)]
    if c.chance(0.3):
        p = [k[i] // 2 for i in range(nsp)]         # the largest pad allowed
    d = [1] * nsp
    if is_max and c.chance(0.35):
        d = [int(c.choice([1, 2, 3])) for _ in range(nsp)]
    ceil = c.chance(0.5)
    count_pad = c.chance(0.5)
    for i in range(nsp):
        if out_size(sp[i], k[i], stride[i], p[i], p[i], d[i], ceil) < 1:
            return None
    opts = []
    if stride_given:
        opts.append(("stride", opt_int_pair(c, stride, nsp)))
    if p != [0] * nsp or c.chance(0.2):
        opts.append(("pad", opt_int_pair(c, p, nsp)))
    if d != [1] * nsp or (is_max and c.chance(0.1)):
        opts.append(("dilation", opt_int_pair(c, d, nsp)))
    if ceil or c.chance(0.2):
        opts.append(("ceil_mode", "true" if ceil else "false"))
    if not is_max and (not count_pad or c.chance(0.2)):
        opts.append(("count_pad", "true" if count_pad else "false"))
    ref = ref_pool(x.v, nsp, k, stride, p, d, ceil, is_max, count_pad)
    stage = ("maxpool" if is_max else "avgpool") + ("2d" if nsp == 2 else "1d")
    c.desc.append(f"{stage} k={k} s={stride} p={p} d={d} ceil={ceil} count_pad={count_pad}")
    return call(c, stage, x.expr, [opt_int_pair(c, k, nsp)], opts), ref


def gen_pool_family(c):
    nsp = 2 if c.chance(0.6) else 1
    for _ in range(200):
        is_max = c.chance(0.5)
        lead = [int(c.r(1, 4)) for _ in range(int(c.choice([0, 1, 1, 2, 3])))]
        sp = [int(c.r(1, 13)) for _ in range(nsp)]
        if c.chance(0.3):
            sp = [int(c.r(1, 6)) for _ in range(nsp)]
        elif c.chance(0.1):
            sp[-1] = int(c.r(13, 70))
        shape = lead + sp
        arr = c.data(shape)
        if is_max and c.chance(0.4):
            arr = -np.abs(arr) - 0.5                # all negative: padding must not win
        sym = None
        if c.chance(0.3):
            sym = [None] * len(lead) + (["H", "W"] if nsp == 2 else ["L"])
        snap = c.snapshot()
        x = c.input(arr, sym=sym)
        res = gen_pool_stage(c, x, nsp, sp, is_max)
        if res is None:
            c.restore(snap)
            continue
        c.output(*res)
        return
    raise RuntimeError("no valid pool case")


def gen_signal_operand(c, nsp, shape, role):
    u = c.rng.random()
    if role == "b" and u < 0.3:
        n = shape[0]
        if nsp == 1:
            kind = c.choice(["box", "gaussian", "savgol"])
            if kind == "box":
                return Val(f"box({n})", f32(np.full(n, 1.0 / n)))
            if kind == "gaussian":
                sig = float(c.choice([0.5, 1, 2]))
                return Val(f"gaussian({n}, {num(sig)})", f32(gaussian(n, sig)))
            if n >= 2:
                order = int(c.r(0, n))
                deriv = int(c.r(0, order + 1)) if c.chance(0.5) else 0
                txt = f"savgol({n}, {order}" + (f", deriv={deriv})" if deriv or c.chance(0.3) else ")")
                return Val(txt, f32(scipy.signal.savgol_coeffs(n, order, deriv)))
        else:
            if shape[0] == shape[1] == 3 and c.chance(0.5):
                nm = c.choice(["sobel_x", "sobel_y", "laplacian"])
                return Val(nm, {"sobel_x": SOBEL_X, "sobel_y": SOBEL_X.T.copy(), "laplacian": LAPLACIAN}[nm])
            if shape[0] == shape[1]:
                n = shape[0]
                if c.chance(0.5):
                    return Val(f"box2d({n})", f32(np.full((n, n), 1.0 / (n * n))))
                g = gaussian(n, 1.0)
                return Val(f"gaussian2d({n}, 1)", f32(np.outer(g, g)))
    if u < 0.75 or role == "a" and u < 0.9:
        sym = None
        if c.chance(0.3):
            sym = (["A", "B"] if role == "a" else ["P", "Q"])[:nsp] if nsp == 2 else (["N"] if role == "a" else ["M"])
        return c.input(c.data(shape), base=role, sym=sym)
    return c.weight(c.data(shape), base=role)


def gen_signal_family(c):
    nsp = 1 if c.chance(0.5) else 2
    correlate = c.chance(0.5)
    mode = c.choice(["full", "same", "valid", None])
    n1 = [int(c.r(1, 13)) for _ in range(nsp)]
    n2 = [int(c.r(1, 8)) for _ in range(nsp)]
    if c.chance(0.3):
        n2 = [int(c.r(1, 13)) for _ in range(nsp)]
    if c.chance(0.15):
        n2 = [n2[0]] * nsp
    if c.chance(0.1):
        n1[-1] = int(c.r(13, 80))
    eff = mode or ("valid" if correlate else "full")
    if eff == "valid" and nsp == 2:
        ge = [n1[i] >= n2[i] for i in range(nsp)]
        le = [n1[i] <= n2[i] for i in range(nsp)]
        if not (all(ge) or all(le)):
            n2 = [n2[0], n2[1]]
            n2 = [min(n2[i], n1[i]) for i in range(nsp)] if c.chance(0.5) else [max(n2[i], n1[i]) for i in range(nsp)]
    a = gen_signal_operand(c, nsp, n1, "a")
    b = gen_signal_operand(c, nsp, n2, "b")
    if b.v.shape != tuple(n2):
        n2 = list(b.v.shape)
    stage = "correlate" if correlate else "convolve"
    fn = scipy.signal.correlate if correlate else scipy.signal.convolve
    ref = fn(a.v, b.v, mode=eff, method="direct")
    opts = [("mode", mode)] if mode else []
    method = c.choice([None, None, None, "fft", "auto"])
    if method:
        opts.append(("method", method))
    c.desc.append(f"{stage} {list(a.v.shape)} {list(b.v.shape)} mode={eff} method={method}")
    expr = call(c, stage, a.expr, [b.expr], opts)
    if c.chance(0.2):
        t = c.bind(expr, ref)
        expr2, ref2 = f"abs({t.expr}) + {t.expr} * 0.5", np.abs(ref) + ref * 0.5
        c.output_val(t)
        c.output(expr2, ref2)
    else:
        c.output(expr, ref)


# ---- elementwise expression trees -----------------------------------------

def gen_elementwise(c, leaves, depth):
    """Random expression over same-shape Vals; values stay bounded and away
    from the places (sqrt(0), x/0) where float32 rounding is amplified."""
    if depth == 0 or c.chance(0.25):
        return c.choice(leaves)
    op = c.choice(["relu", "abs", "tanh", "sigmoid", "neg", "leaky", "clamp", "sqrt", "exp",
                   "+", "-", "*", "/", "min", "max", "scal+", "scal*"])
    a = gen_elementwise(c, leaves, depth - 1)
    if op == "relu":
        return Val(f"relu({a.expr})", np.maximum(a.v, 0))
    if op == "abs":
        return Val(f"abs({a.expr})", np.abs(a.v))
    if op == "tanh":
        return Val(f"tanh({a.expr})", np.tanh(a.v))
    if op == "sigmoid":
        return Val(f"sigmoid({a.expr})", 1 / (1 + np.exp(-a.v)))
    if op == "neg":
        return Val(f"-({a.expr})", -a.v)
    if op == "leaky":
        if c.chance(0.3):
            return Val(f"leaky_relu({a.expr})", np.where(a.v > 0, a.v, 0.01 * a.v))
        al = float(c.choice([0.1, 0.2, 0.5, 2.0]))
        return Val(f"leaky_relu({a.expr}, {num(al)})", np.where(a.v > 0, a.v, f32(al) * a.v))
    if op == "clamp":
        lo = float(c.choice([-1.0, -0.5, 0.0]))
        hi = float(c.choice([0.0, 0.25, 1.0]))
        return Val(f"clamp({a.expr}, {num(lo)}, {num(hi)})", np.minimum(np.maximum(a.v, lo), hi))
    if op == "sqrt":
        return Val(f"sqrt({a.expr} * {a.expr} + 1)", np.sqrt(a.v * a.v + 1))
    if op == "exp":
        return Val(f"exp(tanh({a.expr}))", np.exp(np.tanh(a.v)))
    if op == "scal+":
        s = float(c.choice([0.5, -1.5, 2.0, 0.25]))
        return Val(f"({a.expr} + {num(s)})", a.v + s) if c.chance(0.5) else Val(f"({num(s)} - {a.expr})", s - a.v)
    if op == "scal*":
        s = float(c.choice([0.5, -1.5, 2.0, 0.25]))
        return Val(f"{num(s)} * ({a.expr})", s * a.v)
    b = gen_elementwise(c, leaves, depth - 1)
    if op == "+":
        return Val(f"({a.expr} + {b.expr})", a.v + b.v)
    if op == "-":
        return Val(f"({a.expr} - {b.expr})", a.v - b.v)
    if op == "*":
        return Val(f"({a.expr} * {b.expr})", a.v * b.v)
    if op == "/":
        return Val(f"({a.expr} / (abs({b.expr}) + 1))", a.v / (np.abs(b.v) + 1))
    if op in ("min", "max"):
        f = np.minimum if op == "min" else np.maximum
        if c.chance(0.3):
            s = float(c.choice([0.0, 0.5, -0.25]))
            return Val(f"{op}({a.expr}, {num(s)})", f(a.v, s)) if c.chance(0.5) else \
                Val(f"{op}({num(s)}, {a.expr})", f(s, a.v))
        return Val(f"{op}({a.expr}, {b.expr})", f(a.v, b.v))
    raise AssertionError(op)


# ---- chains ----------------------------------------------------------------

def gen_chain_family(c):
    kind = c.choice(["block", "residual", "inception", "elementwise", "chain1d", "filters", "global"])
    c.desc.append(kind)
    for _ in range(300):
        snap = c.snapshot()
        try:
            if globals()["chain_" + kind](c):
                return
        except Retry:
            pass
        c.restore(snap)
    raise RuntimeError("no valid chain case " + kind)


class Retry(Exception):
    pass


def need(res):
    if res is None:
        raise Retry()
    return res


def image_input(c, C, sp, nb_max=1, sym_p=0.3):
    batch = [int(c.r(1, 3)) for _ in range(int(c.r(0, nb_max + 1)))]
    shape = batch + [C] + sp
    sym = None
    if c.chance(sym_p):
        sym = [None] * len(batch) + ["C" if c.chance(0.3) else None] + ["H", "W"][:len(sp)] \
            if len(sp) == 2 else [None] * len(batch) + [None, "L"]
    return c.input(c.data(shape), sym=sym), batch


def chain_block(c):
    C = int(c.r(1, 6))
    sp = [int(c.r(3, 13)), int(c.r(3, 13))]
    x, batch = image_input(c, C, sp)
    K = int(c.r(1, 6))
    e1, r1 = need(gen_conv_stage(c, x, 2, sp, C, per_channel=False, want_K=K))
    act = c.choice(["relu", "leaky_relu", "tanh", "sigmoid"])
    r2 = {"relu": lambda v: np.maximum(v, 0), "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
          "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[act](r1)
    h = c.bind(f"{e1} |> {act}" if "|>" not in e1 and c.chance(0.5) else f"{act}({e1})", r2)
    ep, rp = need(gen_pool_stage(c, h, 2, list(r2.shape[-2:])))
    K2 = int(c.r(1, 5))
    w2 = c.weight(c.data([K2, r1.shape[-3]] if c.chance(0.7) else [K2, r1.shape[-3], 1, 1]))
    st = int(c.choice([1, 1, 2]))
    opts = [("stride", str(st))] if st != 1 or c.chance(0.2) else []
    bias = None
    if c.chance(0.4):
        bias = c.weight(c.data([K2]), "b")
        opts.append(("bias", bias.expr))
    rq = ref_conv(rp, w2.v.reshape(K2, -1, 1, 1), 2, bias=bias.v if bias else None, stride=[st, st])
    c.desc.append(f"conv1x1 s={st}")
    p = c.bind(ep, rp)
    if c.chance(0.3):
        c.output_val(p)
    c.output(call(c, "conv1x1", p.expr, [w2.expr], opts), rq)
    return True


def chain_residual(c):
    C = int(c.r(1, 6))
    sp = [int(c.r(1, 11)), int(c.r(1, 11))]
    x, batch = image_input(c, C, sp)
    # conv with output shape == input shape: pad=same (stride 1), K = C
    k = [int(c.r(1, 6)), int(c.r(1, 6))]
    d = [int(c.choice([1, 1, 2, 3])), int(c.choice([1, 1, 2]))]
    mode = c.choice(["zeros", "reflect", "replicate", "circular"])
    tot = [d[i] * (k[i] - 1) for i in range(2)]
    p0 = [t // 2 for t in tot]
    p1 = [tot[i] - p0[i] for i in range(2)]
    for i in range(2):
        if mode == "reflect" and p1[i] >= sp[i] or mode == "circular" and p1[i] > sp[i]:
            raise Retry()
    divs = [g for g in range(1, C + 1) if C % g == 0]
    g = int(c.choice(divs))
    w = c.weight(c.data([C, C // g] + k))
    opts = [("pad", "same")]
    if mode != "zeros":
        opts.append(("pad_mode", mode))
    if g != 1:
        opts.append(("groups", str(g)))
    if d != [1, 1]:
        opts.append(("dilation", opt_int_pair(c, d, 2)))
    r = ref_conv(x.v, w.v, 2, p0=p0, p1=p1, dil=d, groups=g, pad_mode=mode)
    c.desc.append(f"residual k={k} d={d} {mode} g={g}")
    h = c.bind(call(c, "conv2d", x.expr, [w.expr], opts), r)
    form = c.choice(["relu", "plain", "scaled"])
    if form == "relu":
        c.output(f"relu({h.expr} + {x.expr})", np.maximum(r + x.v, 0))
    elif form == "plain":
        c.output(f"{x.expr} + {h.expr} |> relu", np.maximum(x.v + r, 0))
    else:
        c.output(f"{x.expr} - 0.5 * {h.expr}", x.v - 0.5 * r)
    return True


def chain_inception(c):
    C = int(c.r(1, 5))
    sp = [int(c.r(2, 10)), int(c.r(2, 10))]
    x, batch = image_input(c, C, sp)
    parts = []
    K1 = int(c.r(1, 4))
    w1 = c.weight(c.data([K1, C]))
    parts.append((f"conv1x1({x.expr}, {w1.expr})", ref_conv(x.v, w1.v.reshape(K1, C, 1, 1), 2)))
    k = int(c.choice([1, 3, 5]))
    K2 = int(c.r(1, 4))
    w2 = c.weight(c.data([K2, C, k, k]))
    mode = c.choice(["zeros", "replicate", "circular"])
    if mode == "circular" and (k - 1) // 2 > min(sp):
        mode = "zeros"
    tot = k - 1
    parts.append((f"conv2d({x.expr}, {w2.expr}, pad=same, pad_mode={mode})",
                  ref_conv(x.v, w2.v, 2, p0=[tot // 2] * 2, p1=[tot - tot // 2] * 2, pad_mode=mode)))
    parts.append((f"maxpool2d({x.expr}, 3, stride=1, pad=1)", ref_pool(x.v, 2, [3, 3], [1, 1], [1, 1], [1, 1], False, True)))
    parts.append((f"avgpool2d({x.expr}, 3, stride=1, pad=1, count_pad=false)",
                  ref_pool(x.v, 2, [3, 3], [1, 1], [1, 1], [1, 1], False, False, False)))
    c.rng.shuffle(parts)
    parts = parts[:int(c.r(1, 5))]
    names = [c.bind(e, r) for e, r in parts]
    ref = np.concatenate([n.v for n in names], axis=-3)
    expr = f"concat({', '.join(n.expr for n in names)})"
    c.desc.append(f"concat of {len(names)}")
    if c.chance(0.4):
        g = c.choice(["global_avgpool2d", "global_maxpool2d"])
        f = np.mean if g == "global_avgpool2d" else np.max
        c.output(f"{expr} |> {g}", f(ref, axis=(-2, -1), keepdims=True))
    else:
        c.output(expr, ref)
    return True


def chain_elementwise(c):
    shape = [int(c.r(1, 6)) for _ in range(int(c.r(1, 5)))]
    if c.chance(0.3):
        shape = [int(c.r(1, 40))]
    n_in = int(c.r(1, 4))
    leaves = []
    for i in range(n_in):
        sym = ["D%d" % j for j in range(len(shape))] if c.chance(0.3) else None
        leaves.append(c.input(c.data(shape, -2, 2), sym=sym))
    nouts = int(c.r(1, 3))
    for _ in range(nouts):
        v = gen_elementwise(c, leaves, int(c.r(1, 5)))
        if v.expr in c.inputs:
            v = Val(f"{v.expr} * 1", v.v)
        c.output(v.expr, v.v)
    c.desc.append(f"elementwise {shape}")
    return True


def chain_chain1d(c):
    C = int(c.r(1, 5))
    L = int(c.r(2, 25))
    x, batch = image_input(c, C, [L])
    e1, r1 = need(gen_conv_stage(c, x, 1, [L], C))
    t = c.bind(e1, r1)
    al = float(c.choice([0.1, 0.5]))
    a = c.bind(f"leaky_relu({t.expr}, {num(al)})", np.where(r1 > 0, r1, f32(al) * r1))
    ep, rp = need(gen_pool_stage(c, a, 1, [r1.shape[-1]]))
    c.output(f"tanh({ep})", np.tanh(rp))
    if c.chance(0.5):
        c.output_val(t)
    return True


def chain_filters(c):
    sp = [int(c.r(3, 14)), int(c.r(3, 14))]
    lead = [int(c.r(1, 3)) for _ in range(int(c.r(0, 3)))]
    sym = [None] * len(lead) + ["H", "W"] if c.chance(0.5) else None
    x = c.input(c.data(lead + sp, 0, 1), sym=sym)
    mode = c.choice(["zeros", "reflect", "replicate", "circular"])
    gx = ref_conv(x.v, SOBEL_X, 2, p0=[1, 1], p1=[1, 1], pad_mode=mode)
    gy = ref_conv(x.v, SOBEL_X.T.copy(), 2, p0=[1, 1], p1=[1, 1], pad_mode=mode)
    a = c.bind(f"conv2d({x.expr}, sobel_x, pad=same, pad_mode={mode})", gx)
    b = c.bind(f"conv2d({x.expr}, sobel_y, pad=1, pad_mode={mode})", gy)
    c.output(f"sqrt({a.expr} * {a.expr} + {b.expr} * {b.expr})", np.sqrt(gx * gx + gy * gy))
    if c.chance(0.6):
        n = int(c.choice([3, 5]))
        g = gaussian(n, 1.0)
        blur = ref_conv(x.v, f32(np.outer(g, g)), 2, p0=[n // 2] * 2, p1=[n // 2] * 2, pad_mode="replicate")
        bl = c.bind(f"conv2d({x.expr}, gaussian2d({n}, 1), pad=same, pad_mode=replicate)", blur)
        ep, rp = need(gen_pool_stage(c, bl, 2, sp))
        c.output(f"({ep}) - 0.5", rp - 0.5)
    c.desc.append(f"filters {mode}")
    return True


def chain_global(c):
    C = int(c.r(1, 6))
    sp = [int(c.r(1, 10)), int(c.r(1, 10))]
    x, batch = image_input(c, C, sp, nb_max=2)
    e1, r1 = need(gen_conv_stage(c, x, 2, sp, C, per_channel=False))
    t = c.bind(e1, r1)
    g = c.choice(["global_avgpool2d", "global_maxpool2d"])
    f = np.mean if g == "global_avgpool2d" else np.max
    c.output(f"{g}({t.expr})", f(r1, axis=(-2, -1), keepdims=True))
    return True


# ---- rejections ------------------------------------------------------------

def gen_reject_family(c):
    kind = c.choice(["poolpad", "reflect", "circular", "same_stride", "groups", "below1",
                     "valid_mixed", "filter_bias", "filter_groups", "channels",
                     "rt_reflect", "rt_circular", "rt_below1", "rt_symbol"])
    c.desc.append("reject " + kind)
    if kind == "poolpad":
        nsp = int(c.r(1, 3))
        k = int(c.r(1, 6))
        p = k // 2 + int(c.r(1, 3))
        st = c.choice(["maxpool", "avgpool"]) + f"{nsp}d"
        x = c.input(c.data([8] * nsp))
        pad = str(p) if nsp == 1 or c.chance(0.5) else f"({p}, 0)"
        c.output(f"{st}({x.expr}, {k}, pad={pad})", None)
    elif kind in ("reflect", "circular", "rt_reflect", "rt_circular"):
        nsp = int(c.r(1, 3))
        n = int(c.r(1, 6))
        p = n + (0 if "reflect" in kind else 1) + int(c.r(0, 2))
        k = int(c.r(1, 4))
        sym = (["H", "W"] if nsp == 2 else ["L"]) if kind.startswith("rt_") else None
        x = c.input(c.data([n] * nsp), sym=sym)
        w = c.input(c.data([k] * nsp))
        mode = "reflect" if "reflect" in kind else "circular"
        c.output(f"conv{nsp}d({x.expr}, {w.expr}, pad={p}, pad_mode={mode})", None)
    elif kind == "same_stride":
        x = c.input(c.data([6, 6]))
        s = int(c.r(2, 4))
        stv = f"({s}, 1)" if c.chance(0.5) else str(s)
        c.output(f"conv2d({x.expr}, box2d(3), pad=same, stride={stv})", None)
    elif kind == "groups":
        C = int(c.choice([3, 5, 6]))
        g = int(c.choice([g for g in range(2, 7) if C % g]))
        x = c.input(c.data([C, 5, 5]))
        w = c.input(c.data([g * 2, max(1, C // g), 3, 3]))
        c.output(f"conv2d({x.expr}, {w.expr}, groups={g})", None)
    elif kind in ("below1", "rt_below1"):
        n = int(c.r(1, 5))
        k = n + int(c.r(1, 3))
        sym = ["L"] if kind == "rt_below1" else None
        x = c.input(c.data([n]), sym=sym)
        st = c.choice(["conv1d", "maxpool1d", "avgpool1d"])
        if st == "conv1d":
            c.output(f"conv1d({x.expr}, box({k}))", None)
        else:
            c.output(f"{st}({x.expr}, {k})", None)
    elif kind == "valid_mixed":
        a = c.input(c.data([3, 6]))
        b = c.input(c.data([5, 2]))
        c.output(f"{c.choice(['convolve', 'correlate'])}({a.expr}, {b.expr}, mode=valid)", None)
    elif kind == "filter_bias":
        x = c.input(c.data([2, 5, 5]))
        b = c.input(c.data([2]))
        c.output(f"conv2d({x.expr}, laplacian, bias={b.expr})", None)
    elif kind == "filter_groups":
        x = c.input(c.data([2, 5, 5]))
        c.output(f"conv2d({x.expr}, sobel_x, groups=2)", None)
    elif kind == "channels":
        x = c.input(c.data([3, 5, 5]))
        w = c.input(c.data([2, 2, 3, 3]))
        c.output(f"conv2d({x.expr}, {w.expr})", None)
    elif kind == "rt_symbol":
        x = c.input(c.data([4, 5]), sym=["H", "W"])
        y = c.input(c.data([4, 6]), sym=["H", "V"])
        c.lines[-1] = c.lines[-1].replace("V", "W")    # declared [H, W], given [4, 6]
        c.output(f"{x.expr} + {y.expr}", None)
    if kind.startswith("rt_"):
        c.expect_run_error = True
    else:
        c.expect_check_error = len(c.lines) + 2  # the output line (1: comment, 2: pipeline)


GENERATORS = {
    "conv2d": lambda c: gen_conv_family(c, 2),
    "conv1d": lambda c: gen_conv_family(c, 1),
    "pool": gen_pool_family,
    "signal": gen_signal_family,
    "chain": gen_chain_family,
    "reject": gen_reject_family,
}


# ---------------------------------------------------------------------------
# running and comparing
# ---------------------------------------------------------------------------

def compare(got, ref):
    """None if equal within tolerance, else (flat index, why)."""
    if got.shape != ref.shape:
        return None, f"shape {list(got.shape)}, expected {list(ref.shape)}"
    g = got.astype(np.float64).ravel()
    e = ref.ravel()
    fin = np.isfinite(e)
    scale = max([1.0] + ([float(np.max(np.abs(e[fin])))] if fin.any() else []))
    # non-finite expectations must match exactly, NaN for NaN (a max pool
    # window wholly in the padding is -inf, and a 1x1 over it NaN)
    with np.errstate(invalid="ignore"):
        ok = np.where(fin, np.abs(g - e) <= RTOL * scale + RTOL * np.abs(np.where(fin, e, 0)),
                      (g == e) | (np.isnan(g) & np.isnan(e)))
    if ok.all():
        return None
    i = int(np.argmin(ok))
    idx = np.unravel_index(i, ref.shape) if ref.ndim else ()
    return i, (f"at {list(idx)} got {g[i]!r}, expected {e[i]!r}; "
               f"{int((~ok).sum())} of {ok.size} elements differ")


def run(cmd, cwd):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    except OSError as e:
        return None, "", f"could not start: {e}"


def write_case(c, d, with_expect=True):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "script.conv"), "w") as f:
        f.write(c.script())
    for n, a in c.inputs.items():
        np.save(os.path.join(d, f"in_{n}.npy"), a)
    for fn, a in c.files.items():
        np.save(os.path.join(d, fn), a)
    if with_expect:
        for n, r in c.outputs.items():
            if r is not None:
                np.save(os.path.join(d, f"expect_{n}.npy"), r.astype(np.float32))


def check_case(convc, c, tmp):
    """Returns None or a failure description."""
    d = os.path.join(tmp, "case")
    shutil.rmtree(d, ignore_errors=True)
    write_case(c, d, with_expect=False)
    if c.expect_check_error is not None:
        rc, _, err = run([convc, "check", "script.conv"], d)
        if rc != 1:
            return f"convc check: expected exit 1 (rejected), got {rc}; stderr: {err.strip()[:300]}"
        if not re.search(rf"(^|\n)script\.conv:{c.expect_check_error}:\d+: error", err):
            return f"expected 'script.conv:{c.expect_check_error}:COL: error', got {err.strip()[:300]!r}"
        return None
    outdir = os.path.join(tmp, "out")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    cmd = [convc, "run", "script.conv"] + [f"{n}=in_{n}.npy" for n in c.inputs]
    for o in c.outputs:
        cmd += ["-o", f"{o}={os.path.join(outdir, o + '.npy')}"]
    cmd += c.run_opts
    rc, _, err = run(cmd, d)
    if c.expect_run_error:
        written = os.listdir(outdir)
        if rc != 1:
            return f"convc run: expected exit 1, got {rc}; stderr: {err.strip()[:300]}"
        if not err.strip():
            return "convc run failed without a message"
        if written:
            return f"convc run failed but wrote {written}"
        return None
    if rc != 0:
        return f"convc run: exit {rc}: {err.strip()[:600]}"
    for o, ref in c.outputs.items():
        p = os.path.join(outdir, o + ".npy")
        if not os.path.exists(p):
            return f"output {o} not written"
        got = np.load(p)
        why = compare(got, ref)
        if why:
            return f"output {o} {list(ref.shape)}: {why[1]}"
    return None


def make_case(seed, family, i):
    rng = np.random.default_rng([seed, i, FAMILY_ID[family]])
    c = Case(rng, family)
    GENERATORS[family](c)
    if c.expect_check_error is None and rng.random() < 0.3:
        c.run_opts.append(f"--threads={int(rng.integers(1, 5))}")
    if c.expect_check_error is None and rng.random() < 0.1:
        c.run_opts.append(rng.choice(["-O0", "-O1", "-O2"]))
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("convc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--family", default="all", choices=FAMILIES + ["all"])
    ap.add_argument("--keep")
    ap.add_argument("--only", type=int)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    convc = os.path.abspath(args.convc)
    fams = FAMILIES if args.family == "all" else [args.family]
    passed = failed = 0
    idx = [args.only] if args.only is not None else range(args.cases)
    with tempfile.TemporaryDirectory(prefix="convc-diff-") as tmp:
        for i in idx:
            for fam in fams:
                try:
                    c = make_case(args.seed, fam, i)
                except Exception as e:        # a generator bug, not a convc bug
                    failed += 1
                    print(f"ERROR generating {fam} seed {args.seed} case {i}: {e!r}")
                    continue
                why = check_case(convc, c, tmp)
                tag = f"{fam} seed {args.seed} case {i}"
                if why is None:
                    passed += 1
                    if args.v:
                        print(f"ok   {tag}: {'; '.join(c.desc)}")
                    continue
                failed += 1
                print(f"FAIL {tag}: {why}")
                print(f"  replay: diff.py CONVC --seed {args.seed} --family {fam} --only {i}"
                      + (f"  (run options {' '.join(c.run_opts)})" if c.run_opts else ""))
                print("  inputs: " + ", ".join(f"{n} {list(a.shape)}" for n, a in c.inputs.items()))
                for line in c.script().splitlines():
                    print("  | " + line)
                if args.keep:
                    d = os.path.join(args.keep, f"{fam}_s{args.seed}_c{i}")
                    write_case(c, d)
                    meta = {"note": f"differential {tag}: {why}", "run_options": c.run_opts}
                    if c.expect_check_error is not None:
                        meta["error_line"] = c.expect_check_error
                    if c.expect_run_error:
                        meta["runtime_error"] = True
                    with open(os.path.join(d, "case.json"), "w") as f:
                        json.dump(meta, f, indent=1)
                    print(f"  saved to {d}")
                sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
