#!/usr/bin/env python3
"""The vector kernels read nothing outside their inputs: each input placed
right before (or right after) a page that may not be read, the
convolutions whose row widths are symbols (the rows kernel's rows too
narrow for a chunk, its lanes past a row's end, the plane kernel's masks)
run without a fault and give the bits of the same call on an ordinary
array, on the native CPU and on x86-64-v3.
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


def check(tmp, target):
    rng = np.random.default_rng(7)
    for name, script, sizes in CASES:
        path = os.path.join(tmp, "t.conv")
        with open(path, "w") as f:
            f.write(script)
        p = convc.compile(path, target_cpu=target, threads=1)
        for C, H, W in sizes:
            wshape = [int(d) if d != "C" else C for d in
                      script.split("input w: f32[")[1].split("]")[0].replace(" ", "").split(",")]
            w = rng.standard_normal(wshape).astype(np.float32)
            for at_end in (True, False):
                x, m = guarded((1, C, H, W), at_end, rng)
                pid = os.fork()
                if pid == 0:    # a read outside x faults here, not in the test
                    try:
                        got = p(x=x, w=w)["y"]
                        want = p(x=np.array(x), w=w)["y"]
                        os._exit(0 if got.tobytes() == want.tobytes() else 3)
                    except BaseException:
                        os._exit(4)
                _, status = os.waitpid(pid, 0)
                where = (f"{target}, {name}, x [1, {C}, {H}, {W}] "
                         f"{'ending at' if at_end else 'starting after'} a guard page")
                assert not os.WIFSIGNALED(status), f"{where}: signal {os.WTERMSIG(status)}"
                code = os.WEXITSTATUS(status)
                assert code != 3, f"{where}: other bits than with the input in ordinary memory"
                assert code == 0, f"{where}: the call failed ({code})"
                del x
                m.close()


def test_native(tmp):
    check(tmp, "native")


def test_x86_64_v3(tmp):
    check(tmp, "x86-64-v3")


if __name__ == "__main__":
    main(globals())
