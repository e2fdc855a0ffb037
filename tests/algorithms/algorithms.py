#!/usr/bin/env python3
"""method= and --method: separable filters against float64 SciPy in every
padding mode, which stages `auto` changes, and that --method=direct gives
the default's bits.  usage: algorithms.py CONVC CASE"""
import os, subprocess, sys, tempfile

import numpy as np
from scipy import ndimage

CONVC = os.path.abspath(sys.argv[1])
TOL = 1e-5          # measured worst 1.2e-6; the conformance bound is 1e-4
MODES = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest", "circular": "wrap"}


def run(tmp, script, inputs, outputs, *extra):
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    args = [CONVC, "run", path]
    for name, arr in inputs.items():
        np.save(os.path.join(tmp, name + ".npy"), arr)
        args.append(f"{name}={os.path.join(tmp, name + '.npy')}")
    for name in outputs:
        args += ["-o", f"{name}={os.path.join(tmp, name + '_out.npy')}"]
    p = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {name: np.load(os.path.join(tmp, name + "_out.npy")) for name in outputs}


def schedule(tmp, script, *extra):
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    p = subprocess.run([CONVC, "check", path, "--dump=schedule", *extra], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.split("schedule after pack_weights")[1].split("pipeline")[0]


def case_separable_padding_modes(tmp):
    rng = np.random.default_rng(1)
    for kh, kw in ((3, 3), (5, 5), (7, 3), (15, 15), (31, 31)):
        u, v = rng.standard_normal(kh), rng.standard_normal(kw)
        k = np.outer(u, v).astype(np.float32)
        for mode, nd in MODES.items():
            for h, w in ((kh, kw), (37, 53), (64, 200)):
                x = rng.standard_normal((2, h, w)).astype(np.float32)
                script = (f"pipeline t {{\n  input x: f32[2, {h}, {w}]\n  const k = {k.tolist()}\n"
                          f"  output y = conv2d(x, k, pad=same, pad_mode={mode}, method=separable)\n}}\n")
                if mode == "reflect" and (h <= kh // 2 or w <= kw // 2):
                    continue        # reflect needs the padding smaller than the input
                y = run(tmp, script, {"x": x}, ["y"])["y"]
                ref = np.stack([ndimage.correlate(p, k.astype(np.float64), mode=nd) for p in x.astype(np.float64)])
                err = np.abs(y - ref).max() / np.abs(ref).max()
                assert err < TOL, f"{kh}x{kw} {mode} {h}x{w}: relative error {err:.3g}"
                for target in ("native", "x86-64-v3"):
                    assert "separable" in schedule(tmp, script, f"--target-cpu={target}")


def case_auto_choices(tmp):
    base = "pipeline t {\n  input x: f32[40, 60]\n  output y = conv2d(x, %s, pad=same, method=auto)\n}\n"
    assert "separable" in schedule(tmp, base % "gaussian2d(5, 1.0)")
    assert "separable" in schedule(tmp, base % "box2d(7)")
    assert "separable" not in schedule(tmp, base % "sobel_x")            # 3x3: direct is cheaper
    assert "separable" not in schedule(tmp, base % "[[1, 2, 3, 4, 5], [2, 1, 0, 1, 2], [3, 0, 9, 0, 3], [4, 1, 0, 1, 4], [5, 2, 3, 2, 1]]")
    # no method= at all: direct, unless --method=auto
    plain = "pipeline t {\n  input x: f32[40, 60]\n  output y = conv2d(x, gaussian2d(5, 1.0), pad=same)\n}\n"
    assert "separable" not in schedule(tmp, plain)
    assert "separable" in schedule(tmp, plain, "--method=auto")


def case_direct_override(tmp):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 70)).astype(np.float32)
    sep = ("pipeline t {\n  input x: f32[50, 70]\n"
           "  output y = conv2d(x, gaussian2d(7, 1.5), pad=same, pad_mode=reflect, method=separable)\n}\n")
    plain = sep.replace(", method=separable", "")
    exact = run(tmp, plain, {"x": x}, ["y"])["y"]
    forced = run(tmp, sep, {"x": x}, ["y"], "--method=direct")["y"]
    reference = run(tmp, plain, {"x": x}, ["y"], "--no-kernels")["y"]
    assert np.array_equal(forced.view(np.uint32), exact.view(np.uint32)), "--method=direct changed bits"
    assert np.array_equal(exact.view(np.uint32), reference.view(np.uint32)), "direct is not the scalar order"
    fast = run(tmp, sep, {"x": x}, ["y"])["y"]
    assert not np.array_equal(fast.view(np.uint32), exact.view(np.uint32)), "separable gave the direct bits"
    assert np.abs(fast - exact).max() <= TOL * np.abs(exact).max()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        globals()["case_" + sys.argv[2]](tmp)
    print("ok", sys.argv[2])
