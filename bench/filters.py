#!/usr/bin/python3
"""Time convc's filtering scripts against SciPy, OpenCV, Halide and plain C loops.

The convc side is every script of bench/filters/, compiled by
scripts/bench.sh with --target-cpu=native into one shared library and
called through ctypes.  A workload's scripts share its id (the `# ID:`
comment on their first line) and differ in method=; all of them and every
peer run in this one process, sample by sample in turn, so that a change of
load on the machine hits them alike and the ratios between them hold.

    filters.py --lib LIB --loops LIB --manifest FILE --threads N
               [--seconds S] [--only W8,W9,...] [--data DIR]

LIB is the convc objects with libconvrt; --loops is bench/filters_loops.c
built as a shared library; FILE has one JSON line per script (id, script,
pipeline name, the schedule convc chose), written by scripts/bench.sh.
DIR caches the float64 references between the processes of one run.
The thread count should also be in the environment (CONVRT_NUM_THREADS,
OMP_NUM_THREADS, HL_NUM_THREADS), so that every library starts with it;
this process sets each API as well and refuses to run if one disagrees.

Output: one JSON object per line on stdout (bench/filters_report.py reads
them), progress on stderr.  Exit status 1 if any result, convc's or a
peer's, differs from the float64 reference by more than 1e-4 (max |diff|
/ max |ref|): a peer that computes something else is no comparison.
"""
import argparse
import ast
import ctypes
import json
import os
import re
import sys
import threading
import time
import zlib

# NumPy, SciPy, OpenCV and Halide, imported by import_peers() once main()
# knows the thread count.
np = ndimage = signal = cv2 = hl = None

TOLERANCE = 1e-4
MIN_SAMPLES, MAX_SAMPLES = 3, 201
# A call longer than this is made once, for the check, and that call is
# its only sample: its noise cannot change a ratio that large, and more
# calls would make the run take many minutes.
SLOW_CALL_S = 2.0
MAX_RANK = 8  # CONVRT_MAX_RANK

# The workloads, in report order; the scripts of bench/filters/ carry the
# same ids.  W9 is two rows.
IDS = ["W8", "W8n", "W9-15", "W9-4096", "W12", "W13"]


def selected(wid, only):
    """Is wid in --only?  A bare W9 selects both W9 rows."""
    if not only:
        return True
    return any(w.upper() in (wid.upper(), wid.split("-")[0].upper()) for w in only.split(","))


# ---------------------------------------------------------------- kernels

def gaussian(n, sigma):
    """convc's gaussian(n, sigma) in float64: centred, summing to 1."""
    i = np.arange(n, dtype=np.float64)
    g = np.exp(-(((i - (n - 1) / 2) / sigma) ** 2) / 2)
    return g / g.sum()


def gaussian2d32(n, sigma):
    """convc's gaussian2d(n, sigma): the outer product in float64, stored as float32."""
    g = gaussian(n, sigma)
    return np.outer(g, g).astype(np.float32)


def script_literal(path, name):
    """The tensor literal `const NAME = [[...]]` of a script, so that the
    peers use the very taps convc compiles."""
    with open(path) as f:
        text = re.sub(r"#[^\n]*", "", f.read())
    m = re.search(r"const\s+" + name + r"\s*=\s*(\[.*?\]\s*\])", text, re.S)
    if not m:
        raise SystemExit(f"filters: no literal '{name}' in {path}")
    return ast.literal_eval(m.group(1))


# ------------------------------------------------------------------- convc

class Tensor(ctypes.Structure):
    """convrt_tensor from convrt.h."""
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)),
                ("rank", ctypes.c_int32),
                ("dims", ctypes.c_int64 * MAX_RANK)]


def aligned_zeros(shape):
    """A zeroed float32 array whose data starts on a 64-byte line, as
    convrt_tensor_alloc and the libraries' own allocators give: every
    implementation writes its result into one of these, so none depends
    on where NumPy's allocator happened to put the buffer."""
    shape = tuple(int(d) for d in (shape if np.ndim(shape) else (shape,)))
    n = int(np.prod(shape))
    raw = np.zeros(n + 16, dtype=np.float32)
    off = (-raw.ctypes.data % 64) // 4
    return raw[off:off + n].reshape(shape)


def as_tensor(a):
    """A convrt_tensor viewing the C-contiguous float32 array a (keep a alive)."""
    t = Tensor()
    t.data = a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    t.rank = a.ndim
    for i, n in enumerate(a.shape):
        t.dims[i] = n
    return t


def script_inputs(path):
    """The input names of a script, in argument order."""
    with open(path) as f:
        return re.findall(r"^\s*input\s+([A-Za-z_]\w*)", f.read(), re.M)


def script_desc(path):
    """The description on a script's first line, `# ID: description`."""
    with open(path) as f:
        return f.readline().split(":", 1)[1].strip()


def script_method(path):
    with open(path) as f:
        m = re.search(r"\bmethod\s*=\s*(\w+)", re.sub(r"#[^\n]*", "", f.read()))
    return m.group(1) if m else "direct"


def algorithm(schedule):
    """The algorithm convc chose, from its --dump=schedule line for the stage."""
    for word in ("fft", "separable"):
        if word in schedule.lower():
            return word
    return "direct"


def convc_label(entry):
    """'convc METHOD', and what it chose when that is not what it says."""
    method, algo = script_method(entry["script"]), algorithm(entry["schedule"])
    return f"convc {method}" + (f" ({algo})" if algo != method else "")


class Impl:
    """One implementation of a workload: a call, its result, and what the
    report says about it."""

    def __init__(self, name, call, result, kind="peer", threads=None, note=""):
        self.name, self.call, self.result = name, call, result
        self.kind, self.threads, self.note = kind, threads, note


def convc_impl(lib, entry, inputs):
    """A convc pipeline with its arguments bound; the output is allocated
    and touched here, once, as a caller's buffer would be."""
    arrays = [inputs[n] for n in script_inputs(entry["script"])]
    tins = [as_tensor(a) for a in arrays]
    out = Tensor()
    shapes = getattr(lib, entry["name"] + "_output_shapes")
    if shapes(*[ctypes.byref(t) for t in tins], ctypes.byref(out)) != 0:
        raise SystemExit(f"filters: {entry['name']}_output_shapes failed")
    y = aligned_zeros([out.dims[i] for i in range(out.rank)])
    args = [ctypes.byref(t) for t in tins] + [ctypes.byref(as_tensor(y))]
    fn = getattr(lib, entry["name"])
    keep = (arrays, tins, args)  # the pointers above point into these

    def call():
        if fn(*args) != 0:
            raise SystemExit(f"filters: convc pipeline {entry['name']} failed")
    call.keep = keep
    return Impl(convc_label(entry), call, lambda: y, kind="convc",
                note=f"{os.path.basename(entry['script'])}: {entry['schedule']}")


# -------------------------------------------------------------------- peers

def halide_separable(img, g, boundary, tile):
    """Row pass then column pass, each with the 1-D factor g.  Schedule: the
    output in tiles, parallel over rows of tiles, vectorised along x; the
    row pass computed per tile (its rows plus the kernel's halo), so it
    stays in cache."""
    vec = hl.get_jit_target_from_environment().natural_vector_size(hl.Float(32))
    src = hl.Buffer(img.T)  # Halide's x is its first dim: the contiguous numpy axis
    inp = boundary(src)
    x, y, xo, yo, xi, yi = (hl.Var(n) for n in ("x", "y", "xo", "yo", "xi", "yi"))
    r = len(g) // 2
    rows, out = hl.Func("rows"), hl.Func("out")
    rows[x, y] = sum_exprs(hl.f32(float(g[j])) * inp[x + j - r, y] for j in range(len(g)))
    out[x, y] = sum_exprs(hl.f32(float(g[i])) * rows[x, y + i - r] for i in range(len(g)))
    out.tile(x, y, xo, yo, xi, yi, tile[0], tile[1]).parallel(yo).vectorize(xi, vec)
    rows.compute_at(out, xo).vectorize(x, vec)
    return jit(out, img.shape)


def halide_direct2d(img, k, boundary):
    """Every output's kh*kw taps.  Schedule: strips of 16 rows in parallel,
    vectorised along x."""
    vec = hl.get_jit_target_from_environment().natural_vector_size(hl.Float(32))
    inp = boundary(hl.Buffer(img.T))
    x, y, yo, yi = (hl.Var(n) for n in ("x", "y", "yo", "yi"))
    kh, kw = k.shape
    out = hl.Func("out")
    out[x, y] = sum_exprs(hl.f32(float(k[i, j])) * inp[x + j - kw // 2, y + i - kh // 2]
                          for i in range(kh) for j in range(kw))
    out.split(y, yo, yi, 16).parallel(yo).vectorize(x, vec)
    return jit(out, img.shape)


def halide_conv1d_full(sig, taps):
    """y[i] = sum_j h[j] * x[i - j] over an RDom of the taps.  Schedule: the
    signal copied once into a zero-padded buffer (compute_root), so that
    the sums read it without boundary tests; chunks of 4096 outputs in
    parallel, each in blocks of 8 vectors whose accumulators stay in
    registers while the taps go by."""
    vec = hl.get_jit_target_from_environment().natural_vector_size(hl.Float(32))
    x, xc, xi, xo, xv = (hl.Var(n) for n in ("x", "xc", "xi", "xo", "xv"))
    r = hl.RDom([(0, len(taps))])
    padded, acc, out = hl.Func("padded"), hl.Func("acc"), hl.Func("out")
    padded[x] = hl.BoundaryConditions.constant_exterior(hl.Buffer(sig), hl.f32(0))[x]
    acc[x] = hl.f32(0)
    acc[x] += hl.Buffer(taps)[r] * padded[x - r]
    out[x] = acc[x]
    out.split(x, xc, xi, 4096).parallel(xc).split(xi, xo, xv, 8 * vec).vectorize(xv, vec)
    acc.compute_at(out, xo).vectorize(x, vec).unroll(x)
    acc.update().reorder(x, r.x).vectorize(x, vec).unroll(x)
    padded.compute_root().vectorize(x, vec)
    return jit(out, (len(sig) + len(taps) - 1,))


def sum_exprs(terms):
    terms = iter(terms)
    s = next(terms)
    for t in terms:
        s = s + t
    return s


def jit(func, shape):
    """JIT-compile func once, here, and return (call, output array)."""
    func.compile_jit(hl.get_jit_target_from_environment())
    y = aligned_zeros(shape)
    buf = hl.Buffer(y.T if y.ndim == 2 else y)

    def call():
        func.realize(buf)
    call.keep = (buf, func)
    return call, y


def returned(fn):
    """A peer whose calls return a new array: keep the last for the check."""
    box = []

    def call():
        box[:] = [fn()]
    return call, lambda: box[0]


# --------------------------------------------------------------- workloads

class Workload:
    """Inputs (named as in the scripts), the float64 reference, the peers,
    and the bytes a call must move at least (for the memory floor)."""

    def __init__(self, wid, inputs, reference, peers, floor_bytes=None):
        self.id, self.inputs, self.reference = wid, inputs, reference
        self.peers, self.floor_bytes = peers, floor_bytes


def carray(a):
    """The address of a C-contiguous array, for the C loops' pointers."""
    return a.ctypes.data


def image_5x5(wid, rng, loops, scripts):
    """W8 (the Gaussian) and W8n (the taps of the W8n script), replicate
    padding: SciPy mode 'nearest', OpenCV BORDER_REPLICATE, Halide
    repeat_edge, the C loop's clamped indices."""
    img = rng.random((2160, 3840), dtype=np.float32)
    g = gaussian(5, 1.0).astype(np.float32)
    if wid == "W8":
        k = gaussian2d32(5, 1.0)
    else:
        direct = [e for e in scripts if script_method(e["script"]) == "direct"]
        k = np.array(script_literal(direct[0]["script"], "k"), dtype=np.float32)
    o = [aligned_zeros(img.shape) for _ in range(6)]
    peers = [Impl("SciPy ndimage.correlate",
                  lambda: ndimage.correlate(img, k, output=o[0], mode="nearest"),
                  lambda: o[0], threads=1)]
    if wid == "W8":
        # radius int(truncate * sigma + 0.5) = 2: the same 5 taps
        peers.append(Impl("SciPy ndimage.gaussian_filter",
                          lambda: ndimage.gaussian_filter(img, 1.0, output=o[1], mode="nearest",
                                                          truncate=2.0),
                          lambda: o[1], threads=1))
    peers.append(Impl("OpenCV filter2D",
                      lambda: cv2.filter2D(img, -1, k, dst=o[2], borderType=cv2.BORDER_REPLICATE),
                      lambda: o[2]))
    if wid == "W8":
        peers += [
            Impl("OpenCV GaussianBlur",
                 lambda: cv2.GaussianBlur(img, (5, 5), 1.0, dst=o[3], sigmaY=1.0,
                                          borderType=cv2.BORDER_REPLICATE),
                 lambda: o[3]),
            Impl("OpenCV sepFilter2D",
                 lambda: cv2.sepFilter2D(img, -1, g, g, dst=o[4],
                                         borderType=cv2.BORDER_REPLICATE),
                 lambda: o[4]),
        ]
        call, y = halide_separable(img, g, hl.BoundaryConditions.repeat_edge, (128, 32))
        peers.append(Impl("Halide separable", call, lambda: y,
                          note="128x32 tiles, row pass per tile"))
    else:
        call, y = halide_direct2d(img, k, hl.BoundaryConditions.repeat_edge)
        peers.append(Impl("Halide direct", call, lambda: y, note="strips of 16 rows"))
    peers.append(Impl("C loop (clang-19 -O3)",
                      lambda: loops.filter2d_replicate(carray(img), carray(o[5]), img.shape[0],
                                                       img.shape[1], carray(k), 5, 5),
                      lambda: o[5]))

    def reference():
        return ndimage.correlate(img.astype(np.float64), k.astype(np.float64), mode="nearest")
    return Workload(wid, {"img": img}, reference, peers, floor_bytes=2 * img.nbytes)


def gaussian_31(wid, rng):
    """W12, numpy's reflect padding (d c b | a b c d): SciPy mode 'mirror',
    OpenCV BORDER_REFLECT_101, Halide mirror_interior, np.pad 'reflect'."""
    img = rng.random((3000, 4000), dtype=np.float32)
    g64 = gaussian(31, 5.0)
    g = g64.astype(np.float32)
    k = gaussian2d32(31, 5.0)
    o = [aligned_zeros(img.shape) for _ in range(4)]

    def padded(conv):
        # the kernel is symmetric: its convolution is its correlation
        return returned(lambda: conv(np.pad(img, 15, mode="reflect"), k, mode="valid"))
    fft_call, fft_res = padded(signal.fftconvolve)
    oa_call, oa_res = padded(signal.oaconvolve)
    call, y = halide_separable(img, g, hl.BoundaryConditions.mirror_interior, (32, 256))
    peers = [
        # radius int(truncate * sigma + 0.5) = 15: the same 31 taps
        Impl("SciPy ndimage.gaussian_filter",
             lambda: ndimage.gaussian_filter(img, 5.0, output=o[0], mode="mirror", truncate=3.0),
             lambda: o[0], threads=1),
        Impl("SciPy np.pad + fftconvolve", fft_call, fft_res, threads=1),
        Impl("SciPy np.pad + oaconvolve", oa_call, oa_res, threads=1),
        Impl("OpenCV GaussianBlur",
             lambda: cv2.GaussianBlur(img, (31, 31), 5.0, dst=o[1], sigmaY=5.0,
                                      borderType=cv2.BORDER_REFLECT_101),
             lambda: o[1]),
        Impl("OpenCV sepFilter2D",
             lambda: cv2.sepFilter2D(img, -1, g, g, dst=o[2], borderType=cv2.BORDER_REFLECT_101),
             lambda: o[2]),
        Impl("OpenCV filter2D",
             lambda: cv2.filter2D(img, -1, k, dst=o[3], borderType=cv2.BORDER_REFLECT_101),
             lambda: o[3]),
        Impl("Halide separable", call, lambda: y, note="32x256 tiles, row pass per tile"),
    ]

    def reference():
        # separable in float64: 62 taps per output instead of 961
        t = ndimage.correlate1d(img.astype(np.float64), g64, axis=1, mode="mirror")
        return ndimage.correlate1d(t, g64, axis=0, mode="mirror")
    return Workload(wid, {"img": img}, reference, peers)


def conv1d_full(wid, rng, loops):
    """W9-15, W9-4096 (random taps) and W13 (a reverb): full convolutions."""
    if wid.startswith("W9"):
        ntaps = int(wid.split("-")[1])
        x = rng.uniform(-1, 1, 1 << 20).astype(np.float32)
        h = (rng.uniform(-1, 1, ntaps) / np.sqrt(ntaps)).astype(np.float32)
        names = {"x": x, "h": h}
    else:
        # noise decaying by 60 dB over the response's 0.5 s (at 44.1 kHz)
        ntaps = 22050
        x = rng.uniform(-1, 1, 200000).astype(np.float32)
        decay = np.exp(-np.arange(ntaps) * np.log(1000) / ntaps)
        h = (rng.uniform(-1, 1, ntaps) * decay * 0.05).astype(np.float32)
        names = {"x": x, "ir": h}
    y = aligned_zeros(len(x) + ntaps - 1)
    d_call, d_res = returned(lambda: signal.convolve(x, h, mode="full", method="direct"))
    f_call, f_res = returned(lambda: signal.fftconvolve(x, h, mode="full"))
    a_call, a_res = returned(lambda: signal.oaconvolve(x, h, mode="full"))
    h_call, h_y = halide_conv1d_full(x, h)
    peers = [
        Impl("SciPy signal.convolve direct", d_call, d_res, threads=1),
        Impl("SciPy signal.fftconvolve", f_call, f_res, threads=1),
        Impl("SciPy signal.oaconvolve", a_call, a_res, threads=1),
        Impl("Halide direct", h_call, lambda: h_y,
             note="padded copy, then chunks of 4096, 8 vectors in registers"),
    ]
    if wid.startswith("W9"):
        peers.append(Impl("C loop (clang-19 -O3)",
                          lambda: loops.conv1d_full(carray(x), len(x), carray(h), ntaps, carray(y)),
                          lambda: y))

    def reference():
        x64, h64 = x.astype(np.float64), h.astype(np.float64)
        if ntaps <= 64:
            return np.convolve(x64, h64)
        return signal.fftconvolve(x64, h64)  # float64 FFTs: ~1e-15 of the result's scale
    return Workload(wid, names, reference, peers)


def make_workload(wid, loops, scripts):
    # Seeded by the id alone: the same numbers in every process and run.
    rng = np.random.default_rng(zlib.crc32(wid.encode()))
    if wid in ("W8", "W8n"):
        return image_5x5(wid, rng, loops, scripts)
    if wid == "W12":
        return gaussian_31(wid, rng)
    return conv1d_full(wid, rng, loops)


# ------------------------------------------------------------------ timing

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
    """Wait until no other thread of this process runs: OpenMP (the C
    loops), TBB (OpenCV) and Halide keep their workers spinning for a while
    after a parallel region, and the next sample would share the cores."""
    for _ in range(2000):
        if not other_thread_running():
            return
        time.sleep(0.00025)


def time_interleaved(impls, first_call_s, budget_s):
    """Median seconds per call of each impl, sampled in turn, and the number
    of samples of each.  first_call_s is the time of each impl's check call:
    above SLOW_CALL_S that call is the impl's one sample.  The others are
    warmed up (at least one call and 0.1 s), then sampled in rounds, each a
    batch of calls lasting about 5 ms or one call, until the budget is
    spent, but at least MIN_SAMPLES rounds."""
    batch, samples = [], [[] for _ in impls]
    for im, first, s in zip(impls, first_call_s, samples):
        if first > SLOW_CALL_S:
            s.append(first)
            batch.append(0)
            continue
        t0, calls = time.perf_counter(), 0
        while calls < 1 or time.perf_counter() - t0 < 0.1:
            im.call()
            calls += 1
        per = (time.perf_counter() - t0) / calls
        batch.append(1 if per >= 0.005 else int(0.005 / per))
    start, rounds = time.perf_counter(), 0
    while rounds < MAX_SAMPLES and (rounds < MIN_SAMPLES or time.perf_counter() - start < budget_s):
        for im, n, s in zip(impls, batch, samples):
            if n == 0:
                continue
            settle()
            t0 = time.perf_counter()
            for _ in range(n):
                im.call()
            s.append((time.perf_counter() - t0) / n)
        rounds += 1
        if all(n == 0 for n in batch):
            break
    return [sorted(s)[len(s) // 2] for s in samples], [len(s) for s in samples]


def max_rel_err(a, ref):
    """max |a - ref| / max |ref|, as in bench.c (NaN counts as infinite)."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    diff = np.abs(a - ref)
    if np.isnan(diff).any():
        return float("inf")
    scale = np.abs(ref).max()
    return float(diff.max() / scale) if scale > 0 else float("inf")


# -------------------------------------------------------------------- main

def import_peers(threads):
    """Import the peers' modules into this module's globals; the SciPy
    version."""
    global np, ndimage, signal, cv2, hl
    # Halide's runtime reads its thread count when its pool starts, at the
    # first parallel call; set it before anything can start it.
    os.environ["HL_NUM_THREADS"] = str(threads)
    import numpy
    import scipy
    from scipy import ndimage as nd, signal as sg
    import cv2 as opencv
    import halide
    np, ndimage, signal, cv2, hl = numpy, nd, sg, opencv, halide
    return scipy.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--loops", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--only")
    ap.add_argument("--data")
    opt = ap.parse_args()

    scipy_version = import_peers(opt.threads)

    lib = ctypes.CDLL(os.path.abspath(opt.lib))
    loops = ctypes.CDLL(os.path.abspath(opt.loops))
    loops.filter2d_replicate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long,
                                         ctypes.c_long, ctypes.c_void_p, ctypes.c_long,
                                         ctypes.c_long]
    loops.conv1d_full.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p,
                                  ctypes.c_long, ctypes.c_void_p]
    lib.convrt_set_num_threads(opt.threads)
    loops.filters_loops_set_threads(opt.threads)
    cv2.setNumThreads(opt.threads)
    if (lib.convrt_get_num_threads() != opt.threads or cv2.getNumThreads() != opt.threads
            or loops.filters_loops_get_threads() != opt.threads):
        raise SystemExit("filters: could not set the thread count of convrt, OpenCV and OpenMP")

    with open(opt.manifest) as f:
        manifest = [json.loads(line) for line in f if line.strip()]
    ipp = re.search(r"IPP:\s*(\S+)", cv2.getBuildInformation())
    print(json.dumps({"proc": "filters", "meta": True, "threads": opt.threads,
                      "numpy": np.__version__, "scipy": scipy_version,
                      "opencv": cv2.__version__, "opencv_ipp": ipp.group(1) if ipp else "NO",
                      "halide_target": str(hl.get_jit_target_from_environment())}), flush=True)

    failed = False
    for wid in IDS:
        if not selected(wid, opt.only):
            continue
        scripts = [e for e in manifest if e["id"] == wid]
        if not scripts:
            raise SystemExit(f"filters: no script of bench/filters/ has the id {wid}")
        print(f"filters: {wid}, {opt.threads} thread{'s' if opt.threads > 1 else ''}: setting up",
              file=sys.stderr, flush=True)
        w = make_workload(wid, loops, scripts)
        cache = os.path.join(opt.data, wid + "-ref.npy") if opt.data else None
        if cache and os.path.exists(cache):
            ref = np.load(cache)
        else:
            ref = w.reference()
            if cache:
                os.makedirs(opt.data, exist_ok=True)
                np.save(cache, ref)

        # The direct script first; a variant whose schedule is the direct
        # one's computes the same code and is reported, not timed.
        scripts.sort(key=lambda e: script_method(e["script"]) != "direct")
        direct_sched = scripts[0]["schedule"]
        impls, same_as_direct = [], []
        for e in scripts:
            if impls and e["schedule"] == direct_sched:
                same_as_direct.append(e)
            else:
                impls.append(convc_impl(lib, e, w.inputs))
        impls += w.peers

        print(f"filters: {wid}: " + ", ".join(i.name for i in impls), file=sys.stderr, flush=True)
        first, errs = [], []
        for im in impls:
            settle()
            t0 = time.perf_counter()
            im.call()
            first.append(time.perf_counter() - t0)
            errs.append(max_rel_err(im.result(), ref))
        times, ns = time_interleaved(impls, first, opt.seconds)

        base = {"proc": "filters", "id": wid, "threads": opt.threads}
        print(json.dumps({**base, "workload": True,
                          "desc": script_desc(scripts[0]["script"]),
                          "floor_bytes": w.floor_bytes}))
        lines = [{**base, "impl": im.name, "kind": im.kind, "ms": t * 1e3, "samples": n,
                  "err": err if err < 1e300 else 1e300, "single_thread": im.threads == 1,
                  "note": im.note}
                 for im, t, n, err in zip(impls, times, ns, errs)]
        lines += [{**base, "impl": convc_label(e), "kind": "convc", "same_as_direct": True,
                   "note": f"{os.path.basename(e['script'])}: {e['schedule']}"}
                  for e in same_as_direct]
        # convc's scripts first, timed or not, then the peers
        for line in sorted(lines, key=lambda r: r["kind"] != "convc"):
            print(json.dumps(line))
        sys.stdout.flush()
        for im, err in zip(impls, errs):
            if not err <= TOLERANCE:
                print(f"filters: FAIL {wid}: {im.name} differs from the float64 reference by "
                      f"{err:.3g} (max |diff| / max |ref|) > {TOLERANCE}", file=sys.stderr)
                failed = True
        del w, impls, ref
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
