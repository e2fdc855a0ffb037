#!/usr/bin/env python3
"""Many calls, failures and compilations keep the process's memory flat:
the resident set (C allocations, the JIT) and tracemalloc (Python objects,
NumPy arrays) measured after a warm-up and again at the end.
usage: test_leaks.py CONVC [TEST ...]"""
import gc, os, tracemalloc, warnings

import numpy as np

import convc
from harness import EXAMPLES, main

SOBEL = os.path.join(EXAMPLES, "sobel_edges.conv")
MB = 1 << 20


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def growth(step, warmup, repeat):
    """(resident, traced) bytes gained by `repeat` steps after `warmup`."""
    for i in range(warmup):
        step(i)
    gc.collect()
    tracemalloc.start()
    try:
        r0, t0 = rss(), tracemalloc.get_traced_memory()[0]
        for i in range(repeat):
            step(i)
        gc.collect()
        r = rss() - r0, tracemalloc.get_traced_memory()[0] - t0
        print(f"     {repeat} steps: resident {r[0] / MB:+.2f} MB, traced {r[1] / 1024:+.1f} KB")
        return r
    finally:
        tracemalloc.stop()


def test_many_calls(tmp):
    p = convc.compile(SOBEL, threads=1)
    x = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    y = x.astype(np.float64)           # converted on every call

    def step(i):
        out = p(img=x if i % 2 else y)
        assert out["mag"].shape == (256, 256)

    # each call makes 256 KB of output (and a converted copy on every other):
    # 10,000 calls leaking either would gain gigabytes
    res, traced = growth(step, 500, 10000)
    assert res < 8 * MB and traced < 64 * 1024, (res, traced)


def test_many_failures(tmp):
    p = convc.compile(SOBEL)
    bad = np.zeros((2, 3, 4), np.float32)
    small = os.path.join(tmp, "small.conv")
    with open(small, "w") as f:
        f.write("pipeline small {\n  input img: f32[H, W]\n  output y = conv2d(img, box2d(3))\n}\n")
    q = convc.compile(small)
    tiny = np.zeros((2, 2), np.float32)

    def step(i):
        try:
            p(img=bad) if i % 3 == 0 else q(img=tiny) if i % 3 == 1 else p(nothing=bad)
        except (convc.RunError, TypeError):
            return
        raise AssertionError("no error")

    res, traced = growth(step, 500, 20000)
    assert res < 8 * MB and traced < 64 * 1024, (res, traced)


def test_many_loads_and_saves(tmp):
    path = os.path.join(tmp, "x.npy")
    x = np.random.default_rng(1).random((128, 128), dtype=np.float32)

    def step(i):
        convc.save(path, x)
        assert np.array_equal(convc.load(path), x)

    # 64 KB a file, each flushed to disk: a few hundred
    res, traced = growth(step, 20, 200)
    assert res < 8 * MB and traced < 64 * 1024, (res, traced)


def test_many_compilations(tmp):
    # a compilation costs about 0.2 s: a few dozen, each pipeline dropped;
    # a JIT or arena kept would gain megabytes each
    x = np.ones((16, 16), np.float32)
    warnings.simplefilter("ignore", convc.CompileWarning)

    def step(i):
        p = convc.compile(SOBEL, H=16 + i % 2)
        if i % 2 == 0:
            p(img=x)
        convc.check(SOBEL)
        try:
            convc.compile(SOBEL, target_cpu="nonsense")
        except convc.CompileError:
            pass

    res, traced = growth(step, 5, 25)
    assert res < 12 * MB and traced < 256 * 1024, (res, traced)


if __name__ == "__main__":
    main(globals())
