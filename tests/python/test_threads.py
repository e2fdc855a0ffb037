#!/usr/bin/env python3
"""The module and Python threads: the GIL is released while a pipeline
runs, pipelines run from several threads at once give the results they
give alone, and a failure in one thread is reported to that thread.
usage: test_threads.py CONVC [TEST ...]"""
import os, threading, time

import numpy as np

import convc
from harness import EXAMPLES, main

BIG = """pipeline big {
  input x: f32[H, W]
  output y = conv2d(x, box2d(41), pad=same)
}
"""


def compile_big(tmp, **options):
    path = os.path.join(tmp, "big.conv")
    with open(path, "w") as f:
        f.write(BIG)
    return convc.compile(path, **options)


def test_python_threads_run_while_a_pipeline_runs(tmp):
    # one thread for the pipeline, so the ticker has a core of its own
    p = compile_big(tmp, threads=1)
    rng = np.random.default_rng(0)
    ticks, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        # the run must be long enough to see ticks in: larger images
        # until one takes 0.1 s (the sizes are symbols)
        for n in (1536, 2048, 3072, 4096, 6144):
            x = rng.random((n, n), dtype=np.float32)
            time.sleep(0.02)
            t0 = time.perf_counter()
            p(x=x)
            t1 = time.perf_counter()
            if t1 - t0 >= 0.1:
                break
    finally:
        stop.set()
        t.join()
    assert t1 - t0 >= 0.1, f"the run took only {t1 - t0:.3f} s"
    # Holding the GIL, the call would let no Python code run until it
    # returned: count the ticks well inside the call.
    lo, hi = t0 + 0.2 * (t1 - t0), t1 - 0.2 * (t1 - t0)
    inside = sum(lo <= s <= hi for s in ticks)
    assert inside >= 10, f"{inside} ticks during the middle {hi - lo:.3f} s of a run"


def test_concurrent_calls_give_the_results_of_serial_calls(tmp):
    pipelines = [compile_big(tmp), convc.compile(os.path.join(EXAMPLES, "sobel_edges.conv"), threads=2),
                 convc.compile(os.path.join(EXAMPLES, "ecg_savgol.conv"), threads=1)]
    rng = np.random.default_rng(1)
    jobs = []
    for k in range(12):
        p = pipelines[k % 3]
        x = rng.random((300 + k, 200 + 3 * k) if k % 3 < 2 else (5000 + k,), dtype=np.float32)
        jobs.append((p, x, p(x)))
    got = [None] * len(jobs)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                p, x, _ = jobs[i]
                got[i] = p(x)
        except Exception as e:     # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for (p, x, want), out in zip(jobs, got):
        for k in want:
            assert np.array_equal(out[k], want[k]), (p.name, x.shape, k)


def test_each_thread_gets_its_own_errors(tmp):
    sym = os.path.join(tmp, "sym.conv")
    with open(sym, "w") as f:
        f.write("pipeline sym {\n  input a: f32[H, W]\n  input b: f32[H, W]\n  output y = a + b\n}\n")
    p = convc.compile(sym)
    results = {}

    def work(i):
        a = np.zeros((4, 4 + i), np.float32)
        b = np.zeros((4, 5 + i), np.float32)
        msgs = set()
        for _ in range(200):
            try:
                p(a, b)
            except convc.RunError as e:
                msgs.add(str(e).splitlines()[0])
            p(a, a)
        results[i] = msgs

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        want = (f"pipeline 'sym': input 'b' dim 1 (W) is {5 + i}, but W = {4 + i} was bound by input 'a' dim 1")
        assert results[i] == {want}, (i, results[i])


def test_a_threads_own_count_leaves_the_others_alone(tmp):
    # threads= is the count for the calling thread's calls only: pipelines
    # with different counts in different threads all give the same bits
    x = np.random.default_rng(2).random((400, 300), dtype=np.float32)
    want = compile_big(tmp)(x=x)["y"]
    ps = [compile_big(tmp, threads=n) for n in (1, 2, 4)]
    got = {}

    def work(p):
        got[p.threads] = [p(x=x)["y"] for _ in range(3)]

    threads = [threading.Thread(target=work, args=(p,)) for p in ps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, outs in got.items():
        for y in outs:
            assert np.array_equal(y, want), n


if __name__ == "__main__":
    main(globals())
