#!/usr/bin/env python3
"""The vector kernels read nothing outside their inputs: each input placed
right before (or right after) a page that may not be read, convolutions
whose sizes are symbols (the rows kernel's rows too narrow for a chunk
and its lanes past a row's end, the plane kernel's masks, conv-chan's
open blocks and its fused pool), pools, image filters (separable and
unrolled stencils, replicate padding, kernel rows longer than a vector,
a long separable kernel in column tiles), 1-D signals, and conv-chan's
packing of runtime weights (the weights so placed) run without a
fault and give the bits of the same call on an ordinary array, on the
native CPU and on x86-64-v3.
usage: test_guarded.py CONVC [TEST ...]"""
import ctypes, mmap, os

import numpy as np

import convc
from harness import main

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
PAGE = mmap.PAGESIZE

# (name, script, [(C, H, W), ...])
CASES = [
    ("depthwise 3x3", """pipeline t {
  input x: f32[1, 3, H, W]
  input w: f32[3, 1, 3, 3]
  output y = conv2d(x, w, pad=1, groups=3)
}""", [(3, 2, 1), (3, 3, 5), (3, 2, 8), (3, 2, 13), (3, 3, 20), (3, 2, 31), (3, 2, 44),
       (3, 2, 57), (3, 2, 100)]),
    ("dense 3x3, 6 channels", """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[6, C, 3, 3]
  output y = conv2d(x, w, pad=1)
}""", [(2, 2, 1), (2, 3, 5), (1, 2, 9), (2, 2, 17), (2, 2, 26), (3, 2, 40)]),
    ("1x7 dilated 3, no height pad", """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[4, C, 1, 7]
  output y = conv2d(x, w, pad=(0, 9), dilation=(1, 3))
}""", [(2, 2, 1), (2, 2, 6), (1, 3, 19), (2, 2, 35), (2, 2, 70)]),
    ("3x3 without padding", """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[5, C, 3, 3]
  output y = conv2d(x, w)
}""", [(2, 3, 3), (2, 3, 7), (2, 4, 11), (1, 3, 30), (2, 3, 50)]),
    ("3x3 stride 2, 32 -> 16 channels", """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[16, C, 3, 3]
  output y = conv2d(x, w, stride=2, pad=1)
}""", [(32, 3, 1), (32, 4, 6), (32, 5, 17), (32, 3, 40)]),
    ("3x3 + max pool 3x3/2", """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[16, C, 3, 3]
  output y = maxpool2d(relu(conv2d(x, w, stride=2, pad=1)), 3, stride=2, pad=1)
}""", [(32, 4, 3), (32, 6, 11), (32, 5, 30)]),
    ("max pool 3x3/2 and average pool 2", """pipeline t {
  input x: f32[1, C, H, W]
  output y = avgpool2d(maxpool2d(x, 3, stride=2, pad=1), 2)
}""", [(2, 4, 4), (3, 5, 9), (2, 6, 33), (1, 8, 70)]),
    ("image filters: 5x5 Gaussian (separable) and Sobel, replicate", """pipeline t {
  input x: f32[1, C, H, W]
  g = conv2d(x, gaussian2d(5, 1.0), pad=same, pad_mode=replicate, method=auto)
  output y = conv2d(g, sobel_x, pad=same, pad_mode=replicate)
}""", [(1, 3, 1), (2, 4, 7), (1, 5, 19), (1, 9, 50), (1, 40, 130)]),
    ("kernel rows longer than a vector: 2x20 unrolled, its rows' columns loaded once (masked)",
     """pipeline t {
  input x: f32[1, C, H, W]
  input w: f32[2, 20]
  output y = conv2d(x, w, pad=same, pad_mode=circular)
}""", [(1, 2, 21), (2, 3, 40), (1, 2, 70), (1, 4, 133)]),
    ("31x31 Gaussian, separable in column tiles", """pipeline t {
  input x: f32[1, C, H, W]
  output y = conv2d(x, gaussian2d(31, 5.0), pad=same, pad_mode=replicate, method=separable)
}""", [(1, 3, 40), (1, 20, 300), (1, 17, 1100), (1, 9, 2100)]),
]


# Runtime weights w placed against the guard page instead (x ordinary):
# the channel-vector kernel's packing by transposition reads them in
# pieces of rows, masked past the last tap and the last channel (136
# channels, 30 x 9 = 270 taps a channel: tails on both targets), by its
# work items on a plane of known size or by a nest before them when the
# size is a symbol.  (name, script, x shape, H and W for the symbols)
WEIGHTS = [
    ("3x3 stride 2, 30 -> 136 channels, packed by the work items", """pipeline t {
  input x: f32[2, 30, 9, 11]
  input w: f32[136, 30, 3, 3]
  output y = conv2d(x, w, stride=2, pad=1)
}""", (2, 30, 9, 11)),
    ("3x3 stride 2, 30 -> 136 channels, packed by a nest", """pipeline t {
  input x: f32[1, 30, H, W]
  input w: f32[136, 30, 3, 3]
  output y = conv2d(x, w, stride=2, pad=1)
}""", (1, 30, 9, 11)),
]

# 1-D signals: x [L] (C and H unused)
SIGNALS = [
    ("convolve full, correlate valid, 15 taps", """pipeline t {
  input x: f32[L]
  a = convolve(x, gaussian(15, 2.0))
  output y = correlate(a, box(7), mode=valid)
}""", [1, 3, 9, 17, 40, 129, 1000]),
]


def guarded(shape, at_end, rng):
    """A float32 array of `shape` whose data ends right before (at_end) or
    starts right after a page that may not be read; returns it and the
    mapping it lives in."""
    nbytes = int(np.prod(shape)) * 4
    span = -(-nbytes // PAGE) * PAGE
    m = mmap.mmap(-1, span + 2 * PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for at in (base, base + PAGE + span):
        assert LIBC.mprotect(at, PAGE, 0) == 0, os.strerror(ctypes.get_errno())
    off = PAGE + span - nbytes if at_end else PAGE
    a = np.frombuffer(m, np.float32, count=nbytes // 4, offset=off).reshape(shape)
    a[...] = rng.standard_normal(shape).astype(np.float32)
    return a, m


def in_child(call, where):
    """call() -> (got, want) arrays, in a child process: a read outside the
    guarded input faults there, and the test names the case."""
    pid = os.fork()
    if pid == 0:
        try:
            got, want = call()
            os._exit(0 if got.tobytes() == want.tobytes() else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), f"{where}: signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    assert code != 3, f"{where}: other bits than with the input in ordinary memory"
    assert code == 0, f"{where}: the call failed ({code})"


def compiled(tmp, script, target):
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    return convc.compile(path, target_cpu=target, threads=1)


def side(at_end):
    return "ending at" if at_end else "starting after"


def check(tmp, target):
    rng = np.random.default_rng(7)
    for name, script, sizes in CASES:
        p = compiled(tmp, script, target)
        for C, H, W in sizes:
            args = {}
            if "w" in p.inputs:     # its declared shape, with C bound
                wshape = [C if d == "C" else d for d in p.inputs["w"]]
                args["w"] = rng.standard_normal(wshape).astype(np.float32)
            for at_end in (True, False):
                x, m = guarded((1, C, H, W), at_end, rng)
                in_child(lambda: (p(x=x, **args)["y"], p(x=np.array(x), **args)["y"]),
                         f"{target}, {name}, x [1, {C}, {H}, {W}] {side(at_end)} a guard page")
                del x
                m.close()


def check_weights(tmp, target):
    rng = np.random.default_rng(9)
    for name, script, xshape in WEIGHTS:
        p = compiled(tmp, script, target)
        x = rng.standard_normal(xshape).astype(np.float32)
        for at_end in (True, False):
            w, m = guarded(tuple(p.inputs["w"]), at_end, rng)
            in_child(lambda: (p(x=x, w=w)["y"], p(x=x, w=np.array(w))["y"]),
                     f"{target}, {name}, w {side(at_end)} a guard page")
            del w
            m.close()


def check_signals(tmp, target):
    rng = np.random.default_rng(8)
    for name, script, lengths in SIGNALS:
        p = compiled(tmp, script, target)
        for n in lengths:
            for at_end in (True, False):
                x, m = guarded((n,), at_end, rng)
                in_child(lambda: (p(x=x)["y"], p(x=np.array(x))["y"]),
                         f"{target}, {name}, x [{n}] {side(at_end)} a guard page")
                del x
                m.close()


def test_native(tmp):
    check(tmp, "native")
    check_weights(tmp, "native")
    check_signals(tmp, "native")


def test_x86_64_v3(tmp):
    check(tmp, "x86-64-v3")
    check_weights(tmp, "x86-64-v3")
    check_signals(tmp, "x86-64-v3")


if __name__ == "__main__":
    main(globals())
