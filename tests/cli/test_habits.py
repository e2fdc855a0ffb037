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
        (["mean", "s.conv"], 2, "unknown command 'mean' (check, run or compile; see convc --help)"),
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


def main():
    tests = {n: f for n, f in globals().items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                tests[name](tmp)
                print(f"ok   {name}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name}: {e}")
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
