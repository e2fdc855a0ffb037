#!/usr/bin/env python3
"""method= and --method: separable and FFT filters against float64 SciPy in
every padding mode and signal mode, which stages `auto` changes, and that
--method=direct gives the default's bits.  usage: algorithms.py CONVC CASE"""
import os, re, subprocess, sys, tempfile

import numpy as np
from scipy import ndimage, signal

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
            # (40, 1800): a long kernel's strips in column tiles
            for h, w in ((kh, kw), (37, 53), (64, 200)) + (((40, 1800),) if kh == 31 else ()):
                x = rng.standard_normal((2, h, w)).astype(np.float32)
                script = (f"pipeline t {{\n  input x: f32[2, {h}, {w}]\n  const k = {k.tolist()}\n"
                          f"  output y = conv2d(x, k, pad=same, pad_mode={mode}, method=separable)\n}}\n")
                if mode == "reflect" and (h <= kh // 2 or w <= kw // 2):
                    continue        # reflect needs the padding smaller than the input
                ref = np.stack([ndimage.correlate(p, k.astype(np.float64), mode=nd) for p in x.astype(np.float64)])
                # the tiles on x86-64-v3 too (8-lane vectors, no mask registers)
                for target in ("native",) + (("x86-64-v3",) if w == 1800 else ()):
                    y = run(tmp, script, {"x": x}, ["y"], f"--target-cpu={target}")["y"]
                    err = np.abs(y - ref).max() / np.abs(ref).max()
                    assert err < TOL, f"{kh}x{kw} {mode} {h}x{w} {target}: relative error {err:.3g}"
                for target in ("native", "x86-64-v3"):
                    sched = schedule(tmp, script, f"--target-cpu={target}")
                    assert "separable" in sched
                    # whole rows would leave the strips under 4 halos: column tiles
                    tiles = "in strips of 512-column tiles" in sched
                    assert tiles == (w == 1800), (kh, kw, h, w, sched)


def case_separable_symbolic_sizes(tmp):
    """sizes known only when running: the strips live in a scratch buffer of
    16 slots, each work item a slot that runs a range of strips (3 x 300 x
    40: 57 strips, four a slot); a long kernel's strips are column tiles of
    a width known when compiling, on the stack (one tile for rows narrower
    than two, the last tile wider than the others); a known width of
    30,000 columns, whose whole-row strips would pass 2 MB, takes tiles"""
    rng = np.random.default_rng(7)
    for mode, nd in MODES.items():
        for kh in (5, 9):
            script = (f"pipeline t {{\n  input x: f32[C, H, W]\n"
                      f"  output y = conv2d(x, gaussian2d({kh}, 1.5), pad=same, pad_mode={mode}, "
                      f"method=separable)\n}}\n")
            for c, h, w in ((1, 64, 64), (3, 37, 141), (2, 200, 1500), (3, 300, 40)):
                x = rng.standard_normal((c, h, w)).astype(np.float32)
                y = run(tmp, script, {"x": x}, ["y"])["y"]
                g = np.exp(-0.5 * ((np.arange(kh) - (kh - 1) / 2) / 1.5) ** 2)
                k = np.outer(g / g.sum(), g / g.sum())
                ref = np.stack([ndimage.correlate(p, k, mode=nd) for p in x.astype(np.float64)])
                err = rel_err(y, ref)
                assert err < TOL, f"{kh}x{kh} {mode} {c}x{h}x{w}: relative error {err:.3g}"
    for mode, nd in MODES.items():
        script = (f"pipeline t {{\n  input x: f32[C, H, W]\n"
                  f"  output y = conv2d(x, gaussian2d(31, 5.0), pad=same, pad_mode={mode}, "
                  f"method=separable)\n}}\n")
        for c, h, w in ((1, 40, 300), (2, 33, 1100), (1, 70, 2000)):
            x = rng.standard_normal((c, h, w)).astype(np.float32)
            y = run(tmp, script, {"x": x}, ["y"])["y"]
            g = np.exp(-0.5 * ((np.arange(31) - 15) / 5.0) ** 2)
            k = np.outer(g / g.sum(), g / g.sum())
            ref = np.stack([ndimage.correlate(p, k, mode=nd) for p in x.astype(np.float64)])
            err = rel_err(y, ref)
            assert err < TOL, f"31x31 {mode} {c}x{h}x{w}: relative error {err:.3g}"
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    ir = subprocess.run([CONVC, "check", path, "--dump=ir"], capture_output=True, text=True, timeout=60)
    assert ir.returncode == 0 and "scratch strips" not in ir.stdout and "local strip" in ir.stdout, \
        "a long kernel's tiles on the stack"
    x = rng.standard_normal((1, 40, 30000)).astype(np.float32)
    script = ("pipeline t {\n  input x: f32[1, 40, 30000]\n"
              "  output y = conv2d(x, gaussian2d(5, 1.5), pad=same, pad_mode=reflect, method=separable)\n}\n")
    with open(path, "w") as f:
        f.write(script)
    ir = subprocess.run([CONVC, "check", path, "--dump=ir"], capture_output=True, text=True, timeout=60)
    assert ir.returncode == 0 and "scratch strips" not in ir.stdout and "local strip" in ir.stdout, \
        "30,000 columns in tiles on the stack"
    g = np.exp(-0.5 * ((np.arange(5) - 2) / 1.5) ** 2)
    k = np.outer(g / g.sum(), g / g.sum())
    y = run(tmp, script, {"x": x}, ["y"])["y"]
    err = rel_err(y[0], ndimage.correlate(x[0].astype(np.float64), k, mode="mirror"))
    assert err < TOL, f"30000 columns: relative error {err:.3g}"


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


def rel_err(got, ref):
    assert got.shape == ref.shape, (got.shape, ref.shape)
    return np.abs(got - ref).max() / np.abs(ref).max()


def bits_equal(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def case_direct_long_kernels(tmp):
    """kernels of more than 64 taps (and 1-D signals with any number of
    taps) run by the vector kernel with the taps
    in loops: the same bits as the scalar nest (--no-kernels) on both
    targets, in every signal mode, padding mode, stride, dilation and flip,
    with widths below, at and past a vector, and near float64 SciPy"""
    rng = np.random.default_rng(8)
    cases = []
    for n, k in ((3000, 200), (70, 300), (9, 65), (1, 100), (257, 129), (5000, 3), (300, 15), (40, 40)):
        a = rng.standard_normal(n).astype(np.float32)
        b = rng.standard_normal(k).astype(np.float32)
        lines = [f"  input a: f32[{n}]", f"  input b: f32[{k}]"]
        refs = {}
        for fn in ("convolve", "correlate"):
            for mode in ("full", "same", "valid"):
                name = f"{fn}_{mode}"
                lines.append(f"  output {name} = {fn}(a, b, mode={mode})")
                refs[name] = getattr(signal, fn)(a.astype(np.float64), b.astype(np.float64), mode=mode,
                                                  method="direct")
        cases.append(("\n".join(lines), {"a": a, "b": b}, refs))
    for mode, nd in MODES.items():
        for stride, dil, pad, flip in ((1, 1, "same", "false"), (2, 1, "3", "true"), (1, 2, "7", "false"),
                                       (3, 1, "0", "false")):
            if mode == "reflect" and pad == "same" and dil > 1:
                continue
            x = rng.standard_normal((2, 3, 300)).astype(np.float32)
            klen = 97 if stride != 2 else 5         # a short one-row kernel loops too
            w = rng.standard_normal(klen).astype(np.float32)
            body = (f"  input x: f32[2, 3, 300]\n  input w: f32[{klen}]\n"
                    f"  output y = conv1d(x, w, stride={stride}, dilation={dil}, pad={pad}, pad_mode={mode}, "
                    f"flip={flip}) |> relu")
            cases.append((body, {"x": x, "w": w}, None))
    x = rng.standard_normal((2, 70, 131)).astype(np.float32)
    big = rng.standard_normal((9, 11)).astype(np.float32)
    for mode in MODES:
        cases.append((f"  input x: f32[C, H, W]\n  input k: f32[9, 11]\n"
                       f"  output y = conv2d(x, k, pad=same, pad_mode={mode}, method=direct) * 2 + 1",
                       {"x": x, "k": big}, None))
    # few rows but long ones: each row split into column parts, one work
    # item each (the IR's parallel loop has more items than rows)
    split = []
    for n, k in ((70000, 200), (9001, 65)):
        a = rng.standard_normal(n).astype(np.float32)
        b = rng.standard_normal(k).astype(np.float32)
        lines = [f"  input a: f32[{n}]", f"  input b: f32[{k}]"]
        refs = {}
        for fn in ("convolve", "correlate"):
            for mode in ("full", "same", "valid"):
                lines.append(f"  output {fn}_{mode} = {fn}(a, b, mode={mode})")
                refs[f"{fn}_{mode}"] = getattr(signal, fn)(a.astype(np.float64), b.astype(np.float64),
                                                           mode=mode, method="fft")
        split.append(("\n".join(lines), {"a": a, "b": b}, refs))
    for kshape, mode in (((5, 5), "reflect"), ((9, 11), "zeros"), ((3, 3), "replicate")):
        x = rng.standard_normal((3, 5003)).astype(np.float32)
        k = rng.standard_normal(kshape).astype(np.float32)
        split.append((f"  input x: f32[3, 5003]\n  input k: f32[{kshape[0]}, {kshape[1]}]\n"
                      f"  output y = conv2d(x, k, pad=same, pad_mode={mode}) |> relu", {"x": x, "k": k}, None))
    for body, _, _ in split:
        script = "pipeline t {\n" + body + "\n}\n"
        path = os.path.join(tmp, "t.conv")
        with open(path, "w") as f:
            f.write(script)
        p = subprocess.run([CONVC, "check", path, "--dump=ir"], capture_output=True, text=True, timeout=60)
        m = re.search(r"for \(item = 0; item < (\d+);", p.stdout)
        assert p.returncode == 0 and m and int(m.group(1)) >= 16, script
    cases += split
    for body, inputs, refs in cases:
        script = "pipeline t {\n" + body + "\n}\n"
        outs = [l.split()[1] for l in body.splitlines() if l.strip().startswith("output")]
        for target in ("native", "x86-64-v3"):
            if "k: f32[3, 3]" not in script and "k: f32[5, 5]" not in script:
                assert "taps in loops" in schedule(tmp, script, f"--target-cpu={target}"), script
            fast = run(tmp, script, inputs, outs, f"--target-cpu={target}")
            exact = run(tmp, script, inputs, outs, f"--target-cpu={target}", "--no-kernels")
            for name in outs:
                assert bits_equal(fast[name], exact[name]), f"{target} {name}: bits differ\n{script}"
        if refs:
            for name, ref in refs.items():
                err = rel_err(fast[name], ref)
                assert err < TOL, f"{name}: relative error {err:.3g}\n{script}"


def case_stencil_rows(tmp):
    """the stencil kernel's rows a block follow a kernel's distinct taps
    (a runtime kernel's every tap) on AVX-512 (4 rows of 4 vectors and the taps in registers: 3x3
    random; 2 rows: 4x4 random; 1 row: 5x5 random, and a 5x5 Gaussian, 6
    distinct taps, 4 rows): the same bits as the scalar nest in every
    padding mode, at heights that are not multiples of the rows, batch dims
    and a symbolic size; x86-64-v3 keeps its blocks"""
    rng = np.random.default_rng(12)
    kernels = {"k3": (rng.standard_normal((3, 3)), 4), "k4": (rng.standard_normal((4, 4)), 2),
               "k5": (rng.standard_normal((5, 5)), 1), "gaussian2d(5, 1.0)": (None, 4)}
    x = rng.standard_normal((2, 37, 150)).astype(np.float32)
    for name, (k, rows) in kernels.items():
        const = f"  const {name} = {k.round(4).tolist()}\n" if k is not None else ""
        for mode in MODES:
            pad = "2" if name == "k4" else "same"     # an even kernel: 38 rows out
            for decl in ("[2, 37, 150]", "[2, H, 150]"):
                script = (f"pipeline t {{\n  input x: f32{decl}\n{const}"
                          f"  output y = conv2d(x, {name}, pad={pad}, pad_mode={mode}) - 1\n}}\n")
                if mode == "zeros" and decl == "[2, 37, 150]":
                    sched = schedule(tmp, script)
                    assert f"stencil-rows {rows} rows x 4 vectors" in sched, (name, sched)
                    v3 = schedule(tmp, script, "--target-cpu=x86-64-v3")
                    assert "stencil-rows 4 rows x 2 vectors" in v3, (name, v3)
                got = run(tmp, script, {"x": x}, ["y"])["y"]
                exact = run(tmp, script, {"x": x}, ["y"], "--no-kernels")["y"]
                assert bits_equal(got, exact), (name, mode, decl)
    # a separable kernel of 49 distinct taps: its passes hold 7 taps each
    # and keep 4 rows; computed directly it takes 1
    sep = np.outer(rng.standard_normal(7).round(2), rng.standard_normal(7).round(2)).tolist()
    for method, want in (("separable", "4 rows x 4 vectors, separable"), ("direct", "1 rows x 4 vectors")):
        script = (f"pipeline t {{\n  input x: f32[2, 37, 150]\n"
                  f"  output y = conv2d(x, {sep}, pad=same, method={method})\n}}\n")
        assert f"stencil-rows {want}" in schedule(tmp, script), method
    # kernels given at run time: every tap counts (5x5: 1 row, 3x3: 4)
    for kk, rows in ((5, 1), (3, 4)):
        script = (f"pipeline t {{\n  input x: f32[2, 37, 150]\n  input k: f32[{kk}, {kk}]\n"
                  f"  output y = conv2d(x, k, pad=same, pad_mode=replicate)\n}}\n")
        assert f"stencil-rows {rows} rows x 4 vectors" in schedule(tmp, script), kk
        ins = {"x": x, "k": rng.standard_normal((kk, kk)).astype(np.float32)}
        got = run(tmp, script, ins, ["y"])["y"]
        exact = run(tmp, script, ins, ["y"], "--no-kernels")["y"]
        assert bits_equal(got, exact), kk


def case_wide_taps(tmp):
    """kernel rows longer than a vector with their taps unrolled (1x31,
    2x20, 3x17): on AVX-512 each input row's vectors loaded once and the
    taps' vectors shifted out of them (lane shuffles in the IR) -- the
    same bits as the scalar nest in every padding mode, flipped or not,
    on rows with middle chunks and rows all border, a symbolic width"""
    rng = np.random.default_rng(13)
    for kh, kw in ((1, 31), (2, 20), (3, 17)):
        k = rng.standard_normal((kh, kw)).astype(np.float32)
        for mode in MODES:
            for flip in ("false", "true"):
                for decl, w in (("[2, 23, 150]", 150), ("[1, 9, 41]", 41), ("[2, H, W]", 333)):
                    script = (f"pipeline t {{\n  input x: f32{decl}\n  input k: f32[{kh}, {kw}]\n"
                              f"  output y = conv2d(x, k, pad=same, pad_mode={mode}, flip={flip}) |> relu\n}}\n")
                    if mode == "reflect" and w <= kw // 2:
                        continue
                    if w == 150 and mode == "zeros":
                        path = os.path.join(tmp, "t.conv")
                        with open(path, "w") as f:
                            f.write(script)
                        ir = subprocess.run([CONVC, "check", path, "--dump=ir", "--target-cpu=znver4"],
                                            capture_output=True, text=True, timeout=60)
                        assert ir.returncode == 0 and "shuffle(" in ir.stdout, (kh, kw, "no shifted taps")
                    c = 2 if decl != "[1, 9, 41]" else 1
                    h = 23 if decl == "[2, 23, 150]" else 9 if w == 41 else 19
                    x = rng.standard_normal((c, h, w)).astype(np.float32)
                    ins = {"x": x, "k": k}
                    got = run(tmp, script, ins, ["y"])["y"]
                    exact = run(tmp, script, ins, ["y"], "--no-kernels")["y"]
                    assert bits_equal(got, exact), (kh, kw, mode, flip, decl)


def streams(path, target):
    """Whether the IR for target has streaming stores (vstream)."""
    ir = subprocess.run([CONVC, "check", path, "--dump=ir", f"--target-cpu={target}"],
                        capture_output=True, text=True, timeout=60)
    assert ir.returncode == 0, (path, target, ir.stderr)
    return "vstream(" in ir.stdout


def case_streaming_stores(tmp):
    """a final output of 4 MB or more (16 MB on znver4, target.h) is
    written with non-temporal stores (vstream in the IR) by the stencil and
    the plane kernels, an intermediate or a smaller output is not; the
    values are the same bits as the scalar nest's (direct) and within the
    tolerance of float64 SciPy (separable), on both targets"""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 600, 2003)).astype(np.float32)       # 4.8 MB out
    k = rng.standard_normal((5, 5)).astype(np.float32)
    g = np.outer(rng.standard_normal(5), rng.standard_normal(5)).astype(np.float32)
    for body, method in ((f"  output y = conv2d(x, k, pad=same, pad_mode=replicate) * 2 + 1", "direct"),
                         (f"  output y = conv2d(x, g, pad=same, pad_mode=reflect, method=separable)", "separable")):
        script = (f"pipeline t {{\n  input x: f32[1, 600, 2003]\n  const k = {k.tolist()}\n"
                  f"  const g = {g.tolist()}\n{body}\n}}\n")
        path = os.path.join(tmp, "t.conv")
        with open(path, "w") as f:
            f.write(script)
        # 4.8 MB: streamed for a Xeon and x86-64-v3, not for znver4
        for target, want in (("icelake-server", True), ("x86-64-v3", True), ("znver4", False)):
            assert streams(path, target) == want, (method, target)
        for target in ("native", "x86-64-v3"):
            got = run(tmp, script, {"x": x}, ["y"], f"--target-cpu={target}")["y"]
            if method == "direct":
                exact = run(tmp, script, {"x": x}, ["y"], f"--target-cpu={target}", "--no-kernels")["y"]
                assert bits_equal(got, exact), f"{target}: streaming stores changed bits"
            else:
                ref = ndimage.correlate(x[0].astype(np.float64), g.astype(np.float64), mode="mirror")
                assert rel_err(got[0], ref) < TOL, target
    # a dense convolution (the plane kernel) with a 4.2 MB output and a bias
    xc = rng.standard_normal((16, 160, 410)).astype(np.float32)
    wc = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    bc = rng.standard_normal(16).astype(np.float32)
    script = ("pipeline t {\n  input x: f32[16, 160, 410]\n  input w: f32[16, 16, 3, 3]\n"
              "  input b: f32[16]\n  output y = relu(conv2d(x, w, bias=b, pad=1))\n}\n")
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    # (the AVX-512 plane kernel streams; x86-64-v3's row kernel does not)
    for target, want in (("icelake-server", True), ("x86-64-v3", False), ("znver4", False)):
        assert streams(path, target) == want, target
    for target in ("native", "x86-64-v3"):
        ins = {"x": xc, "w": wc, "b": bc}
        got = run(tmp, script, ins, ["y"], f"--target-cpu={target}")["y"]
        exact = run(tmp, script, ins, ["y"], f"--target-cpu={target}", "--no-kernels")["y"]
        assert bits_equal(got, exact), f"{target}: streaming stores changed bits (plane kernel)"
    # sizes known only when running: the streaming stores under a test of
    # the output's size (4.8 MB: streamed but on znver4; 0.5 MB: plain
    # stores; 48 MB: streamed), the same bits as the scalar nest
    script = ("pipeline t {\n  input x: f32[1, H, W]\n  const k = %s\n"
              "  output y = conv2d(x, k, pad=same, pad_mode=replicate) * 2 + 1\n}\n" % k.tolist())
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write(script)
    ir = subprocess.run([CONVC, "check", path, "--dump=ir"], capture_output=True, text=True, timeout=60)
    assert ir.returncode == 0 and "vstream(" in ir.stdout, "symbolic sizes: no streaming stores"
    xl = rng.standard_normal((1, 3000, 4000)).astype(np.float32)
    for xs in (x, x[:, :100, :1300], xl):
        got = run(tmp, script, {"x": xs}, ["y"])["y"]
        exact = run(tmp, script, {"x": xs}, ["y"], "--no-kernels")["y"]
        assert bits_equal(got, exact), f"symbolic sizes {xs.shape}: streaming stores changed bits"
    # past 16 MB (48 MB) znver4 streams too
    big = ("pipeline t {\n  input x: f32[1, 3000, 4000]\n"
           "  output y = conv2d(x, gaussian2d(5, 1.0), pad=same)\n}\n")
    with open(path, "w") as f:
        f.write(big)
    for target in ("znver4", "icelake-server", "x86-64-v3"):
        assert streams(path, target), target
    # an output below 4 MB, and an intermediate: plain stores
    small = ("pipeline t {\n  input x: f32[1, 300, 400]\n  output y = conv2d(x, gaussian2d(5, 1.0), pad=same)\n}\n")
    inner = ("pipeline t {\n  input x: f32[1, 600, 2003]\n  a = conv2d(x, box2d(5), pad=same)\n"
             "  output y = conv2d(a, box2d(3), pad=same)\n}\n")
    for script, want in ((small, 0), (inner, 1)):
        path = os.path.join(tmp, "t.conv")
        with open(path, "w") as f:
            f.write(script)
        ir = subprocess.run([CONVC, "check", path, "--dump=ir", "--target-cpu=icelake-server"],
                            capture_output=True, text=True, timeout=60)
        stages = ir.stdout.split("// stage ")
        streamed = [i for i, st in enumerate(stages) if "vstream(" in st]
        assert len(streamed) == want and (want == 0 or streamed[0] == len(stages) - 1), (script, streamed)


def case_fft_signals(tmp):
    """convolve/correlate through FFTs in every mode, 1-D and 2-D, long
    kernels and kernels longer than the signal, against float64 SciPy"""
    rng = np.random.default_rng(3)
    for shape_a, shape_b in (((60000,), (4096,)), ((5000,), (301,)), ((300,), (1000,)),
                             ((1,), (7,)), ((90, 130), (31, 31)), ((40, 50), (64, 9)),
                             ((17, 300), (17, 300))):
        a = rng.standard_normal(shape_a).astype(np.float32)
        b = rng.standard_normal(shape_b).astype(np.float32)
        dims = lambda s: ", ".join(map(str, s))
        lines = [f"pipeline t {{", f"  input a: f32[{dims(shape_a)}]", f"  input b: f32[{dims(shape_b)}]"]
        outs, refs = [], {}
        for fn in ("convolve", "correlate"):
            for mode in ("full", "same", "valid"):
                if mode == "valid" and any(p < q for p, q in zip(shape_a, shape_b)) and \
                        any(p > q for p, q in zip(shape_a, shape_b)):
                    continue
                name = f"{fn}_{mode}"
                lines.append(f"  output {name} = {fn}(a, b, mode={mode}, method=fft)")
                outs.append(name)
                refs[name] = getattr(signal, fn)(a.astype(np.float64), b.astype(np.float64), mode=mode,
                                                 method="direct" if a.size * b.size < 4e6 else "fft")
        got = run(tmp, "\n".join(lines + ["}", ""]), {"a": a, "b": b}, outs)
        for name in outs:
            err = rel_err(got[name], refs[name])
            assert err < TOL, f"{shape_a} x {shape_b} {name}: relative error {err:.3g}"


def case_fft_convolutions(tmp):
    """conv1d/conv2d through FFTs: per-plane filters in every padding mode,
    flip, groups with one input channel each (several output channels per
    group, a batch), bias and an epilogue; against float64 references"""
    rng = np.random.default_rng(4)
    nd_mode = MODES
    # per-plane 2-D filters
    for kh, kw, pad in ((31, 31, "same"), (9, 20, "3"), (5, 5, "0")):
        k = rng.standard_normal((kh, kw)).astype(np.float32)
        for mode in MODES:
            for flip in ("false", "true"):
                x = rng.standard_normal((2, 3, 45, 70)).astype(np.float32)
                script = (f"pipeline t {{\n  input x: f32[2, 3, 45, 70]\n  input k: f32[{kh}, {kw}]\n"
                          f"  output y = conv2d(x, k, pad={pad}, pad_mode={mode}, flip={flip}, method=fft)\n}}\n")
                y = run(tmp, script, {"x": x, "k": k}, ["y"])["y"]
                kk = k.astype(np.float64)
                if flip == "true":
                    kk = kk[::-1, ::-1]
                if pad == "same":
                    p0 = ((kh - 1) // 2, (kw - 1) // 2)
                    p1 = (kh - 1 - p0[0], kw - 1 - p0[1])
                else:
                    p0 = p1 = (int(pad), int(pad))
                np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
                xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p0[0], p1[0]), (p0[1], p1[1])), mode=np_mode)
                ref = np.stack([np.stack([signal.correlate(pl, kk, mode="valid") for pl in b]) for b in xp])
                err = rel_err(y, ref)
                assert err < TOL, f"{kh}x{kw} pad {pad} {mode} flip {flip}: relative error {err:.3g}"
    # one input channel per group, m output channels each, batch 2, bias and relu
    for nsp in (1, 2):
        C, m = 3, 2
        K = C * m
        if nsp == 2:
            xs, ks, conv = (2, C, 40, 33), (K, 1, 13, 11), "conv2d"
        else:
            xs, ks, conv = (2, C, 3000), (K, 1, 257), "conv1d"
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ks).astype(np.float32)
        bias = rng.standard_normal(K).astype(np.float32)
        d = lambda s: ", ".join(map(str, s))
        script = (f"pipeline t {{\n  input x: f32[{d(xs)}]\n  input w: f32[{d(ks)}]\n  input bias: f32[{K}]\n"
                  f"  c = {conv}(x, w, bias=bias, pad=4, groups={C}, method=fft)\n"
                  f"  output y = relu(c) * 2\n}}\n")
        y = run(tmp, script, {"x": x, "w": w, "bias": bias}, ["y"])["y"]
        pads = ((0, 0), (0, 0)) + ((4, 4),) * nsp
        xp = np.pad(x.astype(np.float64), pads)
        ref = np.empty(y.shape)
        for b in range(2):
            for k in range(K):
                ref[b, k] = signal.correlate(xp[b, k // m], w[k, 0].astype(np.float64), mode="valid") + bias[k]
        ref = np.maximum(ref, 0) * 2
        err = rel_err(y, ref)
        assert err < TOL, f"{conv} groups: relative error {err:.3g}"
        # the same stage without method=fft: the direct sums agree within the tolerance
        direct = run(tmp, script.replace(", method=fft", ""), {"x": x, "w": w, "bias": bias}, ["y"])["y"]
        assert rel_err(direct, ref) < TOL


def case_fft_reverb(tmp):
    """the reverb: a full convolution of 200,000 samples with a 22,050-tap
    impulse response, and correlate mode=same, against float64 SciPy"""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(200000).astype(np.float32)
    h = (rng.standard_normal(22050) * np.exp(-np.arange(22050) / 4000)).astype(np.float32)
    script = ("pipeline t {\n  input x: f32[200000]\n  input h: f32[22050]\n"
              "  output wet = convolve(x, h, method=fft)\n"
              "  output same = correlate(x, h, mode=same, method=fft)\n}\n")
    got = run(tmp, script, {"x": x, "h": h}, ["wet", "same"])
    xd, hd = x.astype(np.float64), h.astype(np.float64)
    for name, ref in (("wet", signal.fftconvolve(xd, hd)), ("same", signal.correlate(xd, hd, mode="same", method="fft"))):
        err = rel_err(got[name], ref)
        assert err < TOL, f"reverb {name}: relative error {err:.3g}"


def case_fft_errors(tmp):
    """method=fft where it cannot apply: an error at the option"""
    path = os.path.join(tmp, "e.conv")
    for stage, want in (
            ("conv2d(x, k, stride=2, method=fft)", "method=fft needs stride 1 and dilation 1 (here stride 2)"),
            ("conv2d(x, k, dilation=2, method=fft)", "method=fft needs stride 1 and dilation 1 (here dilation 2)"),
            ("conv2d(x4, w, method=fft)", "method=fft needs each output channel to read one input channel"),
            ("conv2d(x, k, method=fast)", "method")):
        with open(path, "w") as f:
            f.write("pipeline t {\n  input x: f32[1, 20, 20]\n  input x4: f32[1, 4, 20, 20]\n"
                    "  input k: f32[3, 3]\n  input w: f32[2, 4, 3, 3]\n"
                    f"  output y = {stage}\n}}\n")
        p = subprocess.run([CONVC, "check", path], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, p.stdout
        col = stage.index("method=") + 21   # the value, after "  output y = "
        assert f"e.conv:6:{col}: error:" in p.stderr and want in p.stderr, (stage, p.stderr)


def case_fft_auto(tmp):
    """what auto picks: FFT for long kernels, direct for short ones, the
    separable passes for a large Gaussian; the table shows the choice"""
    def sched(body, *extra):
        return schedule(tmp, "pipeline t {\n  input x: f32[1, 1, 400, 500]\n  input s: f32[100000]\n"
                             "  input h: f32[4096]\n  input g: f32[15]\n  input m: f32[128]\n"
                             "  input q: f32[32]\n" + body + "}\n", *extra)
    assert " fft " in sched("  output y = convolve(s, h, method=auto)\n")
    assert " fft " not in sched("  output y = convolve(s, g, method=auto)\n")
    # the power-of-two FFTs in vector code: 128 taps already (1.6x the
    # direct sum over 2^20 samples), 32 not yet; 15x15 on a 400x500 plane
    assert " fft " in sched("  output y = convolve(s, m, method=auto)\n")
    assert " fft " not in sched("  output y = convolve(s, q, method=auto)\n")
    mid = np.random.default_rng(5).standard_normal((15, 15)).round(2).tolist()
    assert " fft " in sched(f"  output y = conv2d(x, {mid}, pad=same, method=auto)\n")
    assert " fft " in sched("  output y = convolve(s, h)\n", "--method=auto")
    assert " fft " not in sched("  output y = convolve(s, h)\n")
    big = np.random.default_rng(6).standard_normal((31, 31)).round(2).tolist()
    assert " fft " in sched(f"  output y = conv2d(x, {big}, pad=same, method=auto)\n")
    assert "separable" in sched("  output y = conv2d(x, gaussian2d(31, 5.0), pad=same, method=auto)\n")
    path = os.path.join(tmp, "t.conv")
    with open(path, "w") as f:
        f.write("pipeline t {\n  input s: f32[100000]\n  input h: f32[4096]\n"
                "  output y = convolve(s, h)\n  output z = convolve(s, h, method=fft)\n}\n")
    p = subprocess.run([CONVC, "check", path], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.splitlines() if "convolve full" in l]
    assert "direct (method=auto: fft," in lines[0] and "less work)" in lines[0], lines
    assert lines[1].rstrip().endswith("less work") and "fft, " in lines[1], lines


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        globals()["case_" + sys.argv[2]](tmp)
    print("ok", sys.argv[2])
