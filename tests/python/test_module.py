#!/usr/bin/env python3
"""The Python module: results against SciPy/NumPy and bitwise against
`convc run`, inputs used in place or converted, outputs owned by the
arrays returned, the same messages as the command line, the options,
load() and save().  usage: test_module.py CONVC [TEST ...]"""
import os, pickle, subprocess, sys, tracemalloc, warnings

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as sig

import convc
from harness import EXAMPLES, main, netpbm

CONVC = os.path.abspath(sys.argv[1])
SOBEL = os.path.join(EXAMPLES, "sobel_edges.conv")
ASCENT = os.path.join(EXAMPLES, "data", "ascent.pgm")


def cli(*args, cwd):
    return subprocess.run([CONVC, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write(tmp, name, text):
    with open(os.path.join(tmp, name), "w") as f:
        f.write(text)
    return os.path.join(tmp, name)


def cli_output(tmp, script, inputs, name, *options):
    """What `convc run` writes for one output, from inputs saved as .npy."""
    args = ["run", script]
    for k, v in inputs.items():
        np.save(os.path.join(tmp, f"in_{k}.npy"), v)
        args.append(f"{k}=in_{k}.npy")
    p = cli(*args, "-o", f"{name}=out_{name}.npy", *options, cwd=tmp)
    assert p.returncode == 0, p.stderr
    return np.load(os.path.join(tmp, f"out_{name}.npy"))


# ---- results ------------------------------------------------------------------

def test_sobel_edges_match_scipy_and_convc_run(tmp):
    p = convc.compile(SOBEL)
    img = convc.load(ASCENT)
    out = p(img=img)
    assert list(out) == ["mag"]
    mag = out["mag"]
    x = img.astype(np.float64)
    ref = np.hypot(ndi.sobel(x, axis=1, mode="nearest"), ndi.sobel(x, axis=0, mode="nearest"))
    assert mag.shape == img.shape == (512, 512) and mag.dtype == np.float32
    err = np.abs(mag - ref).max()
    assert err <= 1e-5 * np.abs(ref).max(), err
    assert np.array_equal(mag, cli_output(tmp, SOBEL, {"img": img}, "mag")), "differs from convc run"


def test_savgol_smoothing_matches_numpy_convolve(tmp):
    p = convc.compile(os.path.join(EXAMPLES, "ecg_savgol.conv"))
    s = np.load(os.path.join(EXAMPLES, "data", "ecg.npy")).astype(np.float32)
    y = p(s)["y"]
    ref = np.convolve(s.astype(np.float64), sig.savgol_coeffs(31, 3), mode="same")
    assert y.shape == s.shape
    err = np.abs(y - ref).max()
    assert err <= 1e-5 * np.abs(ref).max(), err
    assert np.array_equal(y, cli_output(tmp, p.script, {"s": s}, "y"))


def test_conv1d_with_channels_stride_and_bias_matches_numpy(tmp):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 4, 5)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    np.save(os.path.join(tmp, "w.npy"), w)
    np.save(os.path.join(tmp, "b.npy"), b)
    script = write(tmp, "mix.conv", """pipeline mix {
  input x: f32[4, L]
  const w: f32[6, 4, 5] = load("w.npy")
  const b: f32[6] = load("b.npy")
  output y = conv1d(x, w, bias=b, stride=2, pad=2)
}
""")
    p = convc.compile(script)
    assert p.inputs == {"x": (4, "L")}, p.inputs
    for length in (1, 2, 9, 100, 1001):
        x = rng.standard_normal((4, length)).astype(np.float32)
        y = p(x=x)["y"]
        xp = np.pad(x.astype(np.float64), ((0, 0), (2, 2)))
        win = np.lib.stride_tricks.sliding_window_view(xp, 5, axis=1)[:, ::2, :]
        ref = np.einsum("kct,cot->ko", w.astype(np.float64), win) + b[:, None]
        assert y.shape == ref.shape == (6, (length + 4 - 5) // 2 + 1), (y.shape, ref.shape)
        assert np.allclose(y, ref, rtol=1e-5, atol=1e-5), (length, np.abs(y - ref).max())


def test_several_outputs_by_name_and_position(tmp):
    p = convc.compile(os.path.join(EXAMPLES, "by_hand_1d.conv"))
    x = np.arange(5, dtype=np.float32)
    out = p(x)
    assert list(out) == ["full", "same", "valid"], list(out)
    assert out["full"].tolist() == [0, 1, 1, 3, 5, 2, 8]
    assert out["same"].tolist() == [1, 1, 3, 5, 2]
    assert out["valid"].tolist() == [1, 3, 5]
    assert np.array_equal(p(x=x)["full"], out["full"])
    assert p.outputs == {"full": (7,), "same": (5,), "valid": (3,)}, p.outputs
    assert p.name == "by_hand"


# ---- inputs in place, conversions, outputs ----------------------------------

def peak_bytes(call):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = call()
        return tracemalloc.get_traced_memory()[1] - base, out
    finally:
        tracemalloc.stop()


def test_float32_c_arrays_are_used_in_place_and_others_copied(tmp):
    p = convc.compile(SOBEL)
    x = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)
    nbytes = x.nbytes
    p(img=x)
    # NumPy reports its allocations to tracemalloc: a call on a float32
    # C-contiguous array allocates the output and nothing of the input's size
    used, out = peak_bytes(lambda: p(img=x))
    assert nbytes <= used < 1.1 * nbytes, (used, nbytes)
    for what, y in [("float64", x.astype(np.float64)), ("Fortran order", np.asfortranarray(x)),
                    ("a strided view", np.repeat(x, 2, axis=1)[:, ::2]), ("big-endian", x.astype(">f4"))]:
        used, conv = peak_bytes(lambda: p(img=y))
        assert used >= 1.9 * nbytes, (what, used, nbytes)
        assert np.array_equal(conv["mag"], out["mag"]), what


def test_outputs_are_fresh_float32_arrays_and_inputs_untouched(tmp):
    p = convc.compile(SOBEL)
    x = np.random.default_rng(2).random((37, 53), dtype=np.float32)
    keep = x.copy()
    x.setflags(write=False)          # only read
    a, b = p(img=x)["mag"], p(img=x)["mag"]
    assert np.array_equal(x, keep)
    for m in (a, b):
        assert m.dtype == np.float32 and m.flags.c_contiguous and m.flags.owndata and m.flags.writeable
        assert m.base is None
        # on a 64-byte boundary, so that a large output can be streamed
        assert m.ctypes.data % 64 == 0, hex(m.ctypes.data)
    assert not np.shares_memory(a, b) and not np.shares_memory(a, x)
    a[:] = 0                          # ours to change
    assert np.array_equal(b, p(img=x)["mag"])
    # NumPy operations on them allocate and free as usual
    c = np.concatenate([a, b]) * 2
    a.resize((53, 37), refcheck=False)
    del a, b
    assert c.shape == (74, 53)


def test_other_real_dtypes_and_lists_are_converted(tmp):
    p = convc.compile(SOBEL)
    x = (np.random.default_rng(3).random((20, 30)) * 100).round()
    want = p(img=x.astype(np.float32))["mag"]
    for y in (x, x.astype(np.int64), x.astype(np.uint8), x.tolist(), x.astype(np.float16)):
        assert np.array_equal(p(img=y)["mag"], p(img=np.asarray(y).astype(np.float32))["mag"])
    assert np.array_equal(p(img=x)["mag"], want)
    bits = p(img=x > 50)["mag"]
    assert np.array_equal(bits, p(img=(x > 50).astype(np.float32))["mag"])
    for bad in (x.astype(np.complex64), np.array([["a"]]), np.array([[None]], dtype=object)):
        try:
            p(img=bad)
            raise AssertionError(f"{bad.dtype} accepted")
        except TypeError as e:
            assert "only real numbers can be converted to float32" in str(e), e


# ---- messages: the command line's ---------------------------------------------

SMALL = """pipeline small {
  input img: f32[H, W]
  output y = conv2d(img, box2d(3))
}
"""
SYM = """pipeline sym {
  input a: f32[H, W]
  input b: f32[H, W]
  output y = a + b
}
"""


def test_compile_errors_carry_the_command_lines_diagnostics(tmp):
    write(tmp, "bad.conv", "pipeline bad {\n  input x: f32[H, W]\n  output y = conv2d(x, box2d(3), pad=nope)\n}\n")
    write(tmp, "small.conv", SMALL)
    os.mkdir(os.path.join(tmp, "dir.conv"))
    cases = [("bad.conv", {}, []), ("missing.conv", {}, []), ("dir.conv", {}, []),
             ("small.conv", {"target_cpu": "nonsense"}, ["--target-cpu=nonsense"]),
             ("small.conv", {"H": 2}, ["H=2"])]
    here = os.getcwd()
    os.chdir(tmp)
    try:
        for script, kw, args in cases:
            want = cli("check", script, *args, cwd=tmp)
            assert want.returncode == 1 and want.stderr, (script, want.stderr)
            try:
                convc.compile(script, **kw)
                raise AssertionError(f"{script} {kw} compiled")
            except convc.CompileError as e:
                assert isinstance(e, convc.Error)
                assert str(e) == want.stderr.rstrip("\n"), (str(e), want.stderr)
            try:
                convc.check(script, **kw)
                raise AssertionError(f"{script} {kw} checked")
            except convc.CompileError as e:
                assert str(e) == want.stderr.rstrip("\n")
        e = None
        try:
            convc.compile("bad.conv")
        except convc.CompileError as err:
            e = err
        assert str(e).startswith("bad.conv:3:38: error: conv2d: unknown pad 'nope'"), e
    finally:
        os.chdir(here)


def test_warnings_are_compile_warnings_with_the_same_text(tmp):
    script = write(tmp, "stride.conv", "pipeline s {\n  input x: f32[8, 8]\n"
                   "  output y = conv2d(x, box2d(3), stride=2)\n}\n")
    want = cli("check", script, cwd=tmp)
    assert want.returncode == 0 and "warning:" in want.stderr, want.stderr
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        p = convc.compile(script)
    assert [str(w.message) for w in got] == [want.stderr.rstrip("\n")], [str(w.message) for w in got]
    assert got[0].category is convc.CompileWarning
    assert p(x=np.ones((8, 8), np.float32))["y"].shape == (3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            convc.compile(script)
            raise AssertionError("a warning turned into an error did not stop compile()")
        except convc.CompileWarning as e:
            assert str(e) == want.stderr.rstrip("\n")


def test_run_errors_carry_the_runtimes_messages(tmp):
    write(tmp, "sym.conv", SYM)
    write(tmp, "small.conv", SMALL)
    here = os.getcwd()
    os.chdir(tmp)
    try:
        # a size symbol bound twice: the runtime's message, then each input
        p = convc.compile("sym.conv")
        a, b = np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32)
        np.save("a.npy", a)
        np.save("b.npy", b)
        want = cli("run", "sym.conv", "a=a.npy", "b=b.npy", "-o", "y=y.npy", cwd=tmp).stderr.splitlines()
        try:
            p(a, b)
            raise AssertionError("ran")
        except convc.RunError as e:
            lines = str(e).splitlines()
            assert "convc: error: " + lines[0] == want[0], (lines, want)
            assert lines[1:] == ["note: a is f32[4, 4] (declared f32[H, W])",
                                 "note: b is f32[4, 5] (declared f32[H, W])"], lines
            assert e.code == -5       # CONVRT_E_SYMBOL
        # a check on the script: at the stage's line, as the checker says it
        p = convc.compile("small.conv")
        np.save("i.npy", np.zeros((2, 2), np.float32))
        want = cli("run", "small.conv", "img=i.npy", "-o", "y=y.npy", cwd=tmp).stderr.splitlines()
        try:
            p(img=np.zeros((2, 2), np.float32))
            raise AssertionError("ran")
        except convc.RunError as e:
            lines = str(e).splitlines()
            assert lines[:3] == want[:3], (lines, want)
            assert lines[0].startswith("small.conv:3:14: error: conv2d: output height"), lines
            assert lines[3] == "note: img is f32[2, 2] (declared f32[H, W])", lines
            assert e.code == -6       # CONVRT_E_SHAPE
        for bad, code, text in [
                (np.zeros((2, 3, 4), np.float32), -3,
                 "pipeline 'small': input 'img' has rank 3, but the pipeline declares rank 2"),
                (np.zeros([1] * 9, np.float32), -3,
                 "pipeline 'small': input 'img' has rank 9, but the pipeline declares rank 2"),
                (np.zeros((0, 5), np.float32), -4,
                 "pipeline 'small': input 'img' dim 0 is 0, but dims must be at least 1")]:
            try:
                p(img=bad)
                raise AssertionError(f"ran on {bad.shape}")
            except convc.RunError as e:
                assert str(e).splitlines()[0] == text and e.code == code, (str(e), e.code)
        # sizes bound when compiling are dims the runtime checks
        q = convc.compile("small.conv", H=10)
        assert q.inputs == {"img": (10, "W")} and q.outputs == {"y": (8, "W - 2")}, (q.inputs, q.outputs)
        try:
            q(img=np.zeros((11, 5), np.float32))
            raise AssertionError("ran")
        except convc.RunError as e:
            assert str(e).startswith("pipeline 'small': input 'img' dim 0 is 11, but the pipeline declares 10")
        assert q(img=np.ones((10, 5), np.float32))["y"].shape == (8, 3)
    finally:
        os.chdir(here)


def test_wrong_arguments_are_type_errors(tmp):
    p = convc.compile(write(tmp, "sym.conv", SYM))
    z = np.zeros((2, 2), np.float32)
    for call, text in [(lambda: p(z, c=z), "pipeline 'sym' has no input 'c'"),
                       (lambda: p(z, a=z, b=z), "input 'a' is given twice"),
                       (lambda: p(z), "input 'b' is not given"),
                       (lambda: p(z, z, z), "pipeline 'sym' takes 2 inputs, 3 given")]:
        try:
            call()
            raise AssertionError(text)
        except TypeError as e:
            assert str(e) == text, (str(e), text)
    assert p(b=z + 1, a=z + 2)["y"].tolist() == [[3, 3], [3, 3]]
    for kw, exc, text in [({"threads": 0}, ValueError, "threads needs a number from 1 to 1024, got '0'"),
                          ({"threads": 1025}, ValueError, "threads needs a number from 1 to 1024, got '1025'"),
                          ({"method": "fast"}, ValueError, "unknown method 'fast' (direct, auto or script)"),
                          ({"opt_level": 4}, ValueError, "opt_level must be 0, 1, 2 or 3, got '4'"),
                          ({"H": 0}, ValueError, "size symbol H must be a positive integer, got '0'"),
                          ({"H": 2.5}, TypeError, "size symbol H must be a positive integer, got '2.5'"),
                          ({"sizes": {"a b": 3}}, ValueError, "size symbol name 'a b' is not an identifier"),
                          ({"H": 3, "sizes": {"H": 3}}, TypeError, "size symbol H is given twice"),
                          ({"target_cpu": 3}, TypeError, "target_cpu must be a string")]:
        try:
            convc.compile(p.script, **kw)
            raise AssertionError(kw)
        except exc as e:
            assert str(e) == text, (str(e), text)
    try:
        convc.Pipeline()
        raise AssertionError("a Pipeline made without compile()")
    except TypeError:
        pass
    try:
        pickle.dumps(p)
        raise AssertionError("pickled")
    except TypeError:
        pass


# ---- options and the table ---------------------------------------------------------

def test_check_gives_the_command_lines_table(tmp):
    here = os.getcwd()
    os.chdir(EXAMPLES)
    try:
        for script, sizes, args in [("sobel_edges.conv", {}, []),
                                    ("sobel_edges.conv", {"H": 512, "W": 512}, ["H=512", "W=512"]),
                                    ("face_blur.conv", {"method": "auto"}, ["--method=auto"]),
                                    ("cnn_block.conv", {}, [])]:
            want = cli("check", script, *args, cwd=EXAMPLES)
            assert want.returncode == 0, want.stderr
            assert convc.check(script, **sizes) == want.stdout, (convc.check(script, **sizes), want.stdout)
            assert convc.compile(script, **sizes).check() == want.stdout
        assert convc.compile("sobel_edges.conv", sizes={"H": 512}).inputs == {"img": (512, "W")}
    finally:
        os.chdir(here)


def test_target_cpu_kernels_methods_and_threads(tmp):
    img = convc.load(ASCENT)
    native = convc.compile(SOBEL)
    assert native.threads is None and native.target_cpu
    want = native(img=img)["mag"]
    v3 = convc.compile(SOBEL, target_cpu="x86-64-v3")
    assert v3.target_cpu == "x86-64-v3"
    assert np.array_equal(v3(img=img)["mag"],
                          cli_output(tmp, SOBEL, {"img": img}, "mag", "--target-cpu=x86-64-v3"))
    # the micro-kernels give the reference loops' bits; so does every thread count
    assert np.array_equal(convc.compile(SOBEL, no_kernels=True)(img=img)["mag"], want)
    for n in (1, 2, 3):
        p = convc.compile(SOBEL, threads=n)
        assert p.threads == n
        assert np.array_equal(p(img=img)["mag"], want), n
    assert np.array_equal(convc.compile(SOBEL, opt_level=0)(img=img)["mag"], want)
    # method="auto" may change the order of the sums, not the result
    face = os.path.join(EXAMPLES, "face_blur.conv")
    direct, auto = convc.compile(face, method="direct"), convc.compile(face, method="auto")
    x = convc.load(os.path.join(EXAMPLES, "data", "face.ppm"))
    a, b = direct(x), auto(x)
    for k in a:
        assert np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


# ---- files ------------------------------------------------------------------------

def test_load_and_save_as_convc_run_does(tmp):
    img = convc.load(ASCENT)
    assert img.dtype == np.float32 and img.shape == (512, 512)
    assert np.abs(img - netpbm(ASCENT)).max() < 1e-7
    face = convc.load(os.path.join(EXAMPLES, "data", "face.ppm"))
    assert face.shape == (3, 768, 1024), face.shape
    x = np.random.default_rng(4).random((3, 40, 50), dtype=np.float32) * 1.2 - 0.1
    for ext in ("png", "ppm"):
        path = os.path.join(tmp, "x." + ext)
        convc.save(path, x)
        back = convc.load(path)
        assert np.array_equal(np.round(back * 255), np.round(np.clip(x, 0, 1) * 255)), ext
    convc.save(os.path.join(tmp, "x.npy"), x.astype(np.float64))
    assert np.array_equal(np.load(os.path.join(tmp, "x.npy")), x)
    for path, arr, code, text in [
            (os.path.join(tmp, "nothing.npy"), None, -12, "cannot load '"),
            (os.path.join(tmp, "x.txt"), x, -14, "unknown extension"),
            (os.path.join(tmp, "no", "x.npy"), x, -12, "No such file or directory"),
            (os.path.join(tmp, "x4.png"), x[None], None, "")]:
        try:
            convc.load(path) if arr is None else convc.save(path, arr)
            raise AssertionError(path)
        except convc.FileError as e:
            assert isinstance(e, OSError) and isinstance(e, convc.Error)
            assert text in str(e) and (code is None or e.code == code), (str(e), e.code)
    assert sorted(os.listdir(tmp)) == ["x.npy", "x.png", "x.ppm"], os.listdir(tmp)


if __name__ == "__main__":
    main(globals())
