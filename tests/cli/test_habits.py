#!/usr/bin/env python3
"""Command-line habits: help for each command, did-you-mean, '-' for
standard input and output, size symbols bound from files, the summary of
what `run` wrote, and a `check` table that says what is computed.
usage: test_habits.py CONVC [TEST ...]"""
import os, re, subprocess, sys, tempfile

import numpy as np

CONVC = os.path.abspath(sys.argv[1])


def convc(*args, cwd, stdin=None, text=True):
    return subprocess.run([CONVC, *args], cwd=cwd, input=stdin, capture_output=True, text=text,
                          timeout=60)


def write(tmp, name, text):
    with open(os.path.join(tmp, name), "w") as f:
        f.write(text)


def ref_conv2d(x, w, stride, pad, dil):
    """Cross-correlation of x [H, W] with w [FH, FW]; pad = ((top, bottom),
    (left, right)); float64."""
    xp = np.pad(x.astype(np.float64), pad)
    fh, fw = w.shape
    oh = (xp.shape[0] - dil[0] * (fh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[1] - dil[1] * (fw - 1) - 1) // stride[1] + 1
    y = np.zeros((oh, ow))
    for i in range(fh):
        for j in range(fw):
            y += w[i, j] * xp[i * dil[0]: i * dil[0] + (oh - 1) * stride[0] + 1: stride[0],
                              j * dil[1]: j * dil[1] + (ow - 1) * stride[1] + 1: stride[1]]
    return y


# ------------------------------------------------------------ check's table

TABLE = """pipeline t {
  input x: f32[H, W]
  const k33 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
  const k42 = [[1, -1], [2, 3], [0, 5], [-2, 1]]
  input x3: f32[1, H, W]
  a = conv2d(x, k33, stride=(1, 2), dilation=(2, 1))
  b = conv2d(x, k42, pad=same)
  c = conv2d(x, box2d(4), pad=same)
  d = conv2d(x, k33, stride=(2, 3), pad=(1, 2), dilation=(2, 1))
  e = conv1x1(x3, [[2]], stride=(2, 3))
  f = maxpool2d(x, 3, stride=(1, 2), dilation=(1, 2))
  output ya = a
  output yb = b
  output yc = c
  output yd = d
  output ye = e
  output yf = f
}
"""


def table_rows(stdout):
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^\s+\d+\s+(\S+)(?: \(out\))?\s{2,}(.+?)\s{2,}\[", line)
        if m:
            rows[m.group(1).split(",")[0]] = m.group(2)
    return rows


def test_check_table_shows_stride_padding_and_dilation_per_dim(tmp):
    write(tmp, "t.conv", TABLE)
    p = convc("check", "t.conv", cwd=tmp)
    assert p.returncode == 0, p.stderr
    rows = table_rows(p.stdout)
    want = {
        "a": "conv2d 3x3 s(1,2) d(2,1)",
        "b": "conv2d 4x2 p(1/2,0/1)",        # pad=same, even kernel: 1 before, 2 after
        "c": "conv2d 4x4 p1/2",
        "d": "conv2d 3x3 s(2,3) p(1,2) d(2,1)",
        "e": "conv1x1 s(2,3)",
        "f": "maxpool2d 3x3 s(1,2) d(1,2)",
    }
    for name, desc in want.items():
        assert rows.get(name) == desc, (name, rows.get(name), p.stdout)
    # the schedule dump names stages the same way
    p = convc("check", "t.conv", "--dump=schedule", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^  e\s+conv1x1 s\(2,3\) ", p.stdout, re.M), p.stdout
    assert not re.search(r"conv1x1 s2\b", p.stdout), p.stdout


def test_the_padding_shown_is_the_padding_computed(tmp):
    # the table's p(1/2,0/1) for pad=same with a 4x2 kernel, and the other
    # rows' strides and dilations, are what `run` computes (NumPy reference)
    write(tmp, "t.conv", TABLE)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((13, 17)).astype(np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "x3.npy"), x[None])
    outs = ["ya", "yb", "yc", "yd"]
    args = [a for o in outs for a in ("-o", f"{o}={o}.npy")]
    p = convc("run", "t.conv", "x=x.npy", "x3=x3.npy", *args, cwd=tmp)
    assert p.returncode == 0, p.stderr
    rows = table_rows(convc("check", "t.conv", cwd=tmp).stdout)

    def pads(desc):
        m = re.search(r" p(\S+)", desc)
        if not m:
            return ((0, 0), (0, 0))
        v = m.group(1)
        dims = v[1:-1].split(",") if v.startswith("(") else [v, v]
        return tuple(tuple(int(n) for n in (d.split("/") if "/" in d else (d, d))) for d in dims)

    def pair(desc, letter):
        m = re.search(rf" {letter}(\(\d+,\d+\)|\d+)", desc)
        if not m:
            return (1, 1)
        v = m.group(1)
        return tuple(int(n) for n in v[1:-1].split(",")) if v.startswith("(") else (int(v), int(v))

    k33 = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
    k42 = np.array([[1, -1], [2, 3], [0, 5], [-2, 1]], np.float64)
    kernels = {"a": k33, "b": k42, "c": np.full((4, 4), 1 / 16), "d": k33}
    for o in outs:
        desc = rows[o[1]]
        ref = ref_conv2d(x, kernels[o[1]], pair(desc, "s"), pads(desc), pair(desc, "d"))
        got = np.load(os.path.join(tmp, f"{o}.npy"))
        assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-5), (o, desc)


def test_total_macs_are_simplified_and_right(tmp):
    write(tmp, "t.conv", """pipeline m {
  input x: f32[C, H, W]
  input w: f32[8, C, 3, 3]
  output y = conv2d(x, w, stride=(1, 2), dilation=(2, 1))
}
""")
    p = convc("check", "t.conv", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "  total MACs: C*(H - 4)*((W - 1)/2)*72\n" in p.stdout, p.stdout
    assert re.search(r"^\s+4\s+y \(out\).*  C\*\(H - 4\)\*\(\(W - 1\)/2\)\*72  ", p.stdout, re.M), p.stdout
    for c, h, w in [(3, 20, 31), (1, 5, 3), (16, 64, 64)]:
        p = convc("check", "t.conv", f"C={c}", f"H={h}", f"W={w}", cwd=tmp)
        assert p.returncode == 0, p.stderr
        oh, ow = h - 2 * 2, (w - 3) // 2 + 1
        want = 8 * oh * ow * c * 9
        assert f"  total MACs: {want:,}\n" in p.stdout, (c, h, w, want, p.stdout)


# ------------------------------------------------------------ help

SOBEL = """pipeline sobel {
  input img: f32[H, W]
  gx = conv2d(img, sobel_x, pad=same, pad_mode=replicate)
  gy = conv2d(img, sobel_y, pad=same, pad_mode=replicate)
  output mag = sqrt(gx * gx + gy * gy)
}
"""

# each command's own options, and some it must not list
OWN = {"check": (["--dump=", "--target-cpu=", "--method="], ["--threads", "-o ", "--header", "--emit"]),
       "run": (["-o OUTPUT=FILE", "--threads N", "-q, --quiet", "--no-kernels"], ["--header", "--emit"]),
       "compile": (["-o FILE.o", "--header FILE.h", "--emit=obj|asm|llvm", "-O0"], ["--threads", "--quiet"])}


def test_each_command_has_its_own_help(tmp):
    write(tmp, "s.conv", SOBEL)
    for cmd, (has, lacks) in OWN.items():
        texts = []
        for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd], [cmd, "s.conv", "--help"],
                     [cmd, "s.conv", "img=x.npy", "-h"]):
            p = convc(*args, cwd=tmp)
            assert p.returncode == 0 and p.stderr == "", (args, p.returncode, p.stderr)
            texts.append(p.stdout)
        assert all(t == texts[0] for t in texts), cmd
        text = texts[0]
        assert text.startswith(f"usage: convc {cmd} SCRIPT"), text
        options = text[text.index("\noptions:\n"):]
        for h in has:
            assert h in options, (cmd, h, text)
        for h in lacks:
            assert h not in options, (cmd, h, text)
        assert all(len(line) < 80 for line in text.splitlines()), text
    p = convc("--help", cwd=tmp)
    assert p.returncode == 0 and all(f"convc {c} SCRIPT" in p.stdout for c in OWN), p.stdout
    assert "convc COMMAND --help" in p.stdout
    p = convc("help", "frobnicate", cwd=tmp)
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr, p.stderr


def test_an_option_of_another_command_is_refused_by_name(tmp):
    write(tmp, "s.conv", SOBEL)
    cases = [
        (["compile", "s.conv", "-o", "s.o", "--threads", "2"],
         "compile has no option '--threads': a compiled pipeline takes its thread count from the program "
         "that runs it (convrt_set_num_threads() or CONVRT_NUM_THREADS)"),
        (["check", "s.conv", "--threads=2"], "check has no option '--threads'"),
        (["check", "s.conv", "-o", "y.npy"], "check has no option '-o' (see convc check --help)"),
        (["run", "s.conv", "img=x.npy", "--header", "x.h"], "run has no option '--header'"),
        (["check", "s.conv", "-q"], "check has no option '-q'"),
    ]
    for args, msg in cases:
        p = convc(*args, cwd=tmp)
        assert p.returncode == 1 and p.stderr.startswith("convc: error: ") and msg in p.stderr, (args, p.stderr)
    assert sorted(os.listdir(tmp)) == ["s.conv"], os.listdir(tmp)


def test_did_you_mean_on_the_command_line(tmp):
    write(tmp, "s.conv", SOBEL)
    np.save(os.path.join(tmp, "x.npy"), np.ones((6, 7), np.float32))
    cases = [
        (["chek", "s.conv"], 2, "unknown command 'chek'; did you mean 'check'?"),
        (["Run", "s.conv"], 2, "unknown command 'Run'; did you mean 'run'?"),
        (["mean", "s.conv"], 2, "unknown command 'mean' (check, run, compile, graph or cache; see convc --help)"),
        (["s.conv"], 2, "unknown command 's.conv': the command comes first, e.g. convc check s.conv"),
        (["run", "s.conv", "img=x.npy", "--thread", "2"], 1,
         "unknown option '--thread'; did you mean '--threads'? (see convc run --help)"),
        (["check", "s.conv", "--dump=asts"], 1, "unknown --dump 'asts'; did you mean 'ast'?"),
        (["check", "s.conv", "--dump=tree"], 1, "unknown --dump 'tree' (ast, schedule, ir, llvm or asm)"),
        (["check", "s.conv", "--methd=auto"], 1, "unknown option '--methd'; did you mean '--method'?"),
        (["check", "s.conv", "--method=autp"], 1, "unknown --method 'autp'; did you mean 'auto'?"),
        (["compile", "s.conv", "-o", "s.o", "--emit=ob"], 1, "unknown --emit 'ob'; did you mean 'obj'?"),
        (["check", "s.conv", "--frobnicate"], 1, "unknown option '--frobnicate' (see convc check --help)"),
        (["run", "s.conv", "imgg=x.npy"], 1, "pipeline 'sobel' has no input 'imgg'; did you mean 'img'?"),
        (["run", "s.conv", "img=x.npy", "-o", "mg=y.npy"], 1,
         "pipeline 'sobel' has no output 'mg'; did you mean 'mag'?"),
        (["run", "s.conv", "image=x.npy"], 1, "pipeline 'sobel' has no input 'image'; did you mean 'img'?"),
        (["run", "s.conv", "w=x.npy"], 1, "pipeline 'sobel' has no input 'w'\n"),
    ]
    for args, rc, msg in cases:
        p = convc(*args, cwd=tmp)
        assert p.returncode == rc and msg in p.stderr, (args, p.returncode, p.stderr)
        assert p.stderr.startswith("convc: error: "), (args, p.stderr)
        assert "did you mean" not in msg or p.stderr.count("did you mean") == 1, p.stderr
    assert sorted(os.listdir(tmp)) == ["s.conv", "x.npy"], os.listdir(tmp)


# ------------------------------------------------------------ sizes from files

def sobel_ref(x):
    """SOBEL's mag in float64: pad=same with replicate, cross-correlation."""
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
    xp = np.pad(x.astype(np.float64), 1, mode="edge")
    gx = ref_conv2d(xp, kx, (1, 1), ((0, 0), (0, 0)), (1, 1))
    gy = ref_conv2d(xp, kx.T, (1, 1), ((0, 0), (0, 0)), (1, 1))
    return np.sqrt(gx * gx + gy * gy)


def total_macs(stdout):
    m = re.search(r"^  total MACs: ([\d,]+)$", stdout, re.M)
    assert m, stdout
    return int(m.group(1).replace(",", ""))


def test_check_binds_size_symbols_from_a_files_shape(tmp):
    from PIL import Image
    write(tmp, "t.conv", TABLE)
    rng = np.random.default_rng(3)
    np.save(os.path.join(tmp, "x.npy"), rng.random((13, 17), np.float32))
    Image.fromarray((rng.random((13, 17)) * 255).astype(np.uint8), "L").save(os.path.join(tmp, "x.png"))
    np.save(os.path.join(tmp, "x3.npy"), rng.random((1, 13, 17), np.float32))
    by_syms = convc("check", "t.conv", "H=13", "W=17", cwd=tmp)
    assert by_syms.returncode == 0, by_syms.stderr
    for x in ("x.npy", "x.png"):
        p = convc("check", "t.conv", f"x={x}", cwd=tmp)
        assert p.returncode == 0, p.stderr
        assert p.stdout == by_syms.stdout, (x, p.stdout)
    p = convc("check", "t.conv", "x3=x3.npy", "x=x.png", "H=13", cwd=tmp)
    assert p.returncode == 0 and p.stdout == by_syms.stdout, p.stderr
    # the numbers are those of the run: every output's shape and the MACs
    p = convc("run", "t.conv", "x=x.npy", "x3=x3.npy", *[a for o in "abcdef" for a in ("-o", f"y{o}=y{o}.npy")],
              cwd=tmp)
    assert p.returncode == 0, p.stderr
    for o in "abcdef":
        shape = list(np.load(os.path.join(tmp, f"y{o}.npy")).shape)
        assert f"  output y{o}: {shape}\n" in by_syms.stdout, (o, shape, by_syms.stdout)
    # a [1, H, W] only: H and W come from x3.npy, which x must then match
    np.save(os.path.join(tmp, "other.npy"), rng.random((1, 12, 17), np.float32))
    cases = [
        (["x=x3.npy"], "t.conv:2:12: error: input 'x' has 2 dims but 'x3.npy' has 3: [1, 13, 17]"),
        (["x=x.npy", "W=16"], "t.conv:2:19: error: 'x.npy' makes W 17 (dim 1 of [13, 17]) but W=16 on the "
                              "command line"),
        (["x=x.npy", "x3=other.npy"], "t.conv:5:20: error: 'other.npy' makes H 12 (dim 1 of [1, 12, 17]) but "
                                       "H=13 from 'x.npy'"),
        (["x3=x.npy"], "input 'x3' has 3 dims but 'x.npy' has 2: [13, 17]"),
        (["xx=x.npy"], "t.conv: error: pipeline 't' has no input 'xx'; did you mean 'x'?"),
        (["x=x.npy", "x=x.png"], "t.conv: error: input 'x' is given twice"),
        (["x=nothere.png"], "convc: error: input 'x': cannot load 'nothere.png': No such file or directory"),
        (["x=t.conv"], "convc: error: input 'x': cannot load 't.conv': unknown extension"),
    ]
    for args, msg in cases:
        p = convc("check", "t.conv", *args, cwd=tmp)
        assert p.returncode == 1 and msg in p.stderr and p.stdout == "", (args, p.stderr)
    # a misspelled input whose file is missing too: the name is said first
    # (the root cause), then the file; with a right name, the file alone
    for cmd in (["check"], ["graph", "-o", "g.dot"]):
        p = convc(*cmd[:1], "t.conv", "xx=nothere.png", *cmd[1:], cwd=tmp)
        name = "t.conv: error: pipeline 't' has no input 'xx'; did you mean 'x'?\n"
        file = "convc: error: input 'xx': cannot load 'nothere.png': No such file or directory\n"
        assert p.returncode == 1 and p.stderr == name + file and p.stdout == "", (cmd, p.stderr)
        p = convc(*cmd[:1], "t.conv", "x=nothere.png", "x3=x3.npy", *cmd[1:], cwd=tmp)
        assert p.returncode == 1 and p.stdout == "" and p.stderr == \
            "convc: error: input 'x': cannot load 'nothere.png': No such file or directory\n", (cmd, p.stderr)
        assert not os.path.exists(os.path.join(tmp, "g.dot"))
    lit = "pipeline l {\n  input x: f32[3, H, W]\n  output y = relu(x)\n}\n"
    write(tmp, "l.conv", lit)
    p = convc("check", "l.conv", "x=x3.npy", cwd=tmp)
    assert p.returncode == 1 and "l.conv:2:16: error: dim 0 of input 'x' is 3 but 'x3.npy' has 1 there: " \
        "[1, 13, 17]" in p.stderr, p.stderr


def test_a_size_symbol_the_script_lacks_is_an_error(tmp):
    write(tmp, "s.conv", SOBEL)
    cases = [
        (["h=5"], "s.conv: error: size symbol 'h' is not in pipeline 'sobel' (its size symbols: H, W); "
                  "did you mean 'H'?"),
        (["H=5", "W=5", "Width=5"], "size symbol 'Width' is not in pipeline 'sobel' (its size symbols: H, W)\n"),
        (["N=5"], "size symbol 'N' is not in pipeline 'sobel' (its size symbols: H, W)\n"),
        (["H=5", "H=6"], "size symbol 'H' is given twice, as 5 and 6"),
    ]
    for args, msg in cases:
        p = convc("check", "s.conv", *args, cwd=tmp)
        assert p.returncode == 1 and msg in p.stderr and p.stdout == "", (args, p.stderr)
    write(tmp, "f.conv", "pipeline f {\n  input x: f32[4, 4]\n  output y = relu(x)\n}\n")
    p = convc("check", "f.conv", "H=4", cwd=tmp)
    assert p.returncode == 1 and "size symbol 'H' is not in pipeline 'f' (it has no size symbols)" in p.stderr


# ------------------------------------------------------------ '-' and what run wrote

def npy_bytes(a):
    import io
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def npy_from(b):
    import io
    return np.load(io.BytesIO(b))


def test_dash_reads_stdin_and_writes_stdout(tmp):
    write(tmp, "s.conv", SOBEL)
    rng = np.random.default_rng(5)
    x = rng.random((9, 11), np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    ref = sobel_ref(x)
    # data in and out through pipes
    p = convc("run", "s.conv", "img=-", "-o", "mag=-", cwd=tmp, stdin=npy_bytes(x), text=False)
    assert p.returncode == 0, p.stderr
    got = npy_from(p.stdout)
    assert got.dtype == np.float32 and got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert p.stderr == b"convc: wrote mag=<stdout> f32[9, 11]\n", p.stderr
    # the same bytes as the file run writes
    p2 = convc("run", "s.conv", "img=x.npy", "-o", "mag=m.npy", cwd=tmp)
    assert p2.returncode == 0, p2.stderr
    with open(os.path.join(tmp, "m.npy"), "rb") as f:
        assert f.read() == p.stdout
    # the script from standard input, for every command
    with open(os.path.join(tmp, "s.conv"), "rb") as f:
        script = f.read()
    p = convc("run", "-", "img=x.npy", "-o", "mag=m2.npy", "-q", cwd=tmp, stdin=script, text=False)
    assert p.returncode == 0 and p.stdout == b"", p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "m2.npy")), np.load(os.path.join(tmp, "m.npy")))
    p = convc("check", "-", "img=x.npy", cwd=tmp, stdin=script, text=False)
    assert p.returncode == 0 and b"pipeline sobel (<stdin>)" in p.stdout and b"[9, 11]" in p.stdout, p.stderr
    p = convc("check", "s.conv", "img=-", cwd=tmp, stdin=npy_bytes(x), text=False)
    assert p.returncode == 0 and b"[9, 11]" in p.stdout, p.stderr
    p = convc("compile", "-", "-o", "s.o", cwd=tmp, stdin=script, text=False)
    assert p.returncode == 0 and os.path.getsize(os.path.join(tmp, "s.o")) > 0, p.stderr
    p = convc("check", "-", cwd=tmp, stdin=b"pipeline p {\n  input x: f32[4]\n  output y = relu(q)\n}\n",
              text=False)
    assert p.returncode == 1 and p.stderr.startswith(b"<stdin>:3:19: error: "), p.stderr


def test_dash_errors_leave_no_file(tmp):
    write(tmp, "s.conv", SOBEL)
    np.save(os.path.join(tmp, "x.npy"), np.ones((5, 5), np.float32))
    before = sorted(os.listdir(tmp))
    x = npy_bytes(np.ones((5, 5), np.float32))
    cases = [
        (["run", "s.conv", "img=-", "-o", "mag=y.npy"], b"P5\n5 5\n255\n" + bytes(25),
         "input 'img': cannot load '<stdin>': header field 'magic'"),
        (["run", "s.conv", "img=-", "-o", "mag=y.npy"], x[:-3], "cannot load '<stdin>'"),
        (["run", "s.conv", "img=-", "-o", "mag=y.npy"], b"", "cannot load '<stdin>'"),
        (["run", "-", "img=-", "-o", "mag=y.npy"], x,
         "standard input can be read once, but the script and input 'img' are both '-'"),
        (["run", "s.conv", "img=x.npy", "-o", "mag=-", "--dump=ir"], b"",
         "--dump prints to standard output, where output 'mag' goes ('-')"),
        (["run", "s.conv", "img=-", "-o", "mag=-"], npy_bytes(np.ones((2, 5, 5), np.float32)),
         "input 'img' has rank 3"),
    ]
    for args, stdin, msg in cases:
        p = convc(*args, cwd=tmp, stdin=stdin, text=False)
        err = p.stderr.decode()
        assert p.returncode == 1 and msg in err and p.stdout == b"", (args, err)
    write(tmp, "two.conv", "pipeline t {\n  input x: f32[N]\n  input y: f32[N]\n  output a = x + y\n"
                           "  output b = x - y\n}\n")
    for args, msg in [(["x=-", "y=-"], "standard input can be read once, but inputs 'x' and 'y' are both '-'"),
                      (["x=x.npy", "y=x.npy", "-o", "a=-", "-o", "b=-"],
                       "only one output can go to standard output, but 'a' and 'b' are both '-'")]:
        p = convc("run", "two.conv", *args, cwd=tmp, stdin=x, text=False)
        assert p.returncode == 1 and msg in p.stderr.decode(), (args, p.stderr)
    assert sorted(os.listdir(tmp)) == sorted(before + ["two.conv"]), os.listdir(tmp)


def test_run_says_what_it_wrote(tmp):
    write(tmp, "s.conv", SOBEL.replace("  output mag", "  output h = gx\n  output mag"))
    np.save(os.path.join(tmp, "x.npy"), np.ones((6, 8), np.float32))
    p = convc("run", "s.conv", "img=x.npy", "-o", "mag=m.png", "-o", "h=g.npy", cwd=tmp)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout == "convc: wrote h=g.npy f32[6, 8], mag=m.png f32[6, 8]\n", p.stdout
    for q in ("-q", "--quiet"):
        p = convc("run", "s.conv", "img=x.npy", "-o", "mag=m.png", q, cwd=tmp)
        assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (p.stdout, p.stderr)
    p = convc("run", "s.conv", "img=x.npy", "-o", "h=-", "-o", "mag=m.npy", cwd=tmp, text=False)
    assert p.returncode == 0 and p.stderr == b"convc: wrote h=<stdout> f32[6, 8], mag=m.npy f32[6, 8]\n"
    assert np.array_equal(npy_from(p.stdout), np.zeros((6, 8), np.float32))


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from testmain import main
    main(globals())
