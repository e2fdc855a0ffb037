#!/usr/bin/env python3
"""The convc command line: arguments, exit codes, messages, and that a failed
run writes no output file at all.  usage: test_cli.py CONVC [TEST ...]"""
import os, subprocess, sys, tempfile

import numpy as np

CONVC = os.path.abspath(sys.argv[1])
ALIAS = """pipeline alias {
  input x: f32[2, 3]
  const k = [[1, 2, 3], [4, 5, 6]]
  r = relu(x)
  output a = r
  output b = r
  output x
  output kk = k
  output s = k * 2 + x
}
"""
X = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)


def convc(*args, cwd):
    return subprocess.run([CONVC, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def setup(tmp):
    with open(os.path.join(tmp, "alias.conv"), "w") as f:
        f.write(ALIAS)
    np.save(os.path.join(tmp, "x.npy"), X)


def test_outputs_may_alias_inputs_constants_and_each_other(tmp):
    p = convc("run", "alias.conv", "x=x.npy", "-o", "a=a.npy", "-o", "b=b.npy", "-o", "x=xo.npy",
              "-o", "kk=kk.npy", "-o", "s=s.npy", cwd=tmp)
    assert p.returncode == 0, p.stderr
    k = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    want = {"a": np.maximum(X, 0), "b": np.maximum(X, 0), "xo": X, "kk": k, "s": k * 2 + X}
    for name, ref in want.items():
        got = np.load(os.path.join(tmp, name + ".npy"))
        assert got.dtype == np.float32 and np.array_equal(got, ref), (name, got, ref)


def test_a_failed_save_leaves_no_output_file(tmp):
    p = convc("run", "alias.conv", "x=x.npy", "-o", "a=a.npy", "-o", "b=missing/b.npy", cwd=tmp)
    assert p.returncode == 1
    assert "output 'b': cannot save 'missing/b.npy'" in p.stderr, p.stderr
    assert sorted(os.listdir(tmp)) == ["alias.conv", "x.npy"], os.listdir(tmp)


def test_a_failed_run_leaves_no_output_file(tmp):
    np.save(os.path.join(tmp, "bad.npy"), np.zeros((3, 3), np.float32))
    p = convc("run", "alias.conv", "x=bad.npy", "-o", "a=a.npy", cwd=tmp)
    assert p.returncode == 1
    assert "pipeline 'alias': input 'x' dim 0 is 3, but the pipeline declares 2" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(tmp, "a.npy"))


def test_a_rank_mismatch_says_what_the_file_was_read_as(tmp):
    # the runtime's check knows the argument, not the file: convc adds it
    with open(os.path.join(tmp, "gray.conv"), "w") as f:
        f.write("pipeline gray {\n  input img: f32[H, W]\n  output y = relu(img)\n}\n")
    with open(os.path.join(tmp, "face.ppm"), "wb") as f:
        f.write(b"P6\n5 4\n255\n" + bytes(range(60)))
    p = convc("run", "gray.conv", "img=face.ppm", "-o", "y=y.npy", cwd=tmp)
    assert p.returncode == 1
    assert p.stderr == ("convc: error: pipeline 'gray': input 'img' has rank 3, but the pipeline declares rank 2\n"
                        "convc: note: img=face.ppm was read as an RGB image f32[3, 4, 5] "
                        "(declared f32[H, W])\n"), p.stderr
    assert not os.path.exists(os.path.join(tmp, "y.npy"))


def test_a_failed_size_check_points_at_the_stage_with_the_symbol_values(tmp):
    with open(os.path.join(tmp, "small.conv"), "w") as f:
        f.write("pipeline small {\n  input img: f32[H, W]\n  output y = conv2d(img, box2d(3))\n}\n")
    np.save(os.path.join(tmp, "a29.npy"), np.zeros((2, 9), np.float32))
    p = convc("run", "small.conv", "img=a29.npy", "-o", "y=y.npy", cwd=tmp)
    assert p.returncode == 1
    assert p.stderr == ("small.conv:3:14: error: conv2d: output height (H + 0 + 0 - 1*(3-1) - 1)/1 + 1 = 0 "
                        "is below 1 (H = 2)\n"
                        "  output y = conv2d(img, box2d(3))\n"
                        "             ^~~~~~~~~~~~~~~~~~~~~\n"
                        "convc: note: img=a29.npy was read as f32[2, 9] (declared f32[H, W])\n"), p.stderr
    assert not os.path.exists(os.path.join(tmp, "y.npy"))


def test_names_on_the_command_line_are_checked(tmp):
    cases = [
        (["x=x.npy", "y=x.npy"], "pipeline 'alias' has no input 'y'"),
        ([], "input 'x' is not given (add x=FILE)"),
        (["x=x.npy", "x=x.npy"], "input 'x' is given twice"),
        (["x=x.npy", "-o", "zz=z.npy"], "pipeline 'alias' has no output 'zz'"),
        (["x=x.npy", "-o", "a"], "-o needs NAME=FILE, got 'a'"),
        (["x=missing.npy"], "missing.npy"),
    ]
    for args, msg in cases:
        p = convc("run", "alias.conv", *args, cwd=tmp)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        assert msg in p.stderr and p.stderr.startswith("convc: error: "), (args, p.stderr)


def test_usage_and_exit_codes(tmp):
    assert convc("--help", cwd=tmp).returncode == 0
    assert convc("--version", cwd=tmp).stdout.startswith("convc ")
    p = convc(cwd=tmp)
    assert p.returncode == 2 and "usage:" in p.stderr
    p = convc("frobnicate", "alias.conv", cwd=tmp)
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr
    p = convc("check", "alias.conv", "--dump=tree", cwd=tmp)
    assert p.returncode == 1 and "unknown --dump 'tree'" in p.stderr
    p = convc("check", "alias.conv", "H=0", cwd=tmp)
    assert p.returncode == 1 and "size symbol H must be a positive integer" in p.stderr
    p = convc("check", "missing.conv", cwd=tmp)
    assert p.returncode == 1 and p.stderr.startswith("missing.conv: error: cannot open the script")


def test_dumps_show_each_stage_of_compilation(tmp):
    p = convc("check", "alias.conv", "--dump=ast,ir", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "pipeline alias" in p.stdout and "for (" in p.stdout and "output s" in p.stdout
    p = convc("run", "alias.conv", "x=x.npy", "--dump=llvm", "--dump=asm", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "define i32 @alias(" in p.stdout and "alias_pipeline" in p.stdout
    assert ".text" in p.stdout or "ret" in p.stdout


def test_repeated_stages_are_lowered_once(tmp):
    # a chain of equal blurs: the dump shows the middle ones as repeats of
    # the first, and the numbers are those of every blur applied in turn
    lines = ["pipeline blur6 {", "  input x: f32[37, 45]", "  const k = box2d(3)"]
    prev = "x"
    for i in range(6):
        name = "y" if i == 5 else f"t{i}"
        lines.append(f"  {'output ' if i == 5 else ''}{name} = conv2d({prev}, k, pad=same)")
        prev = name
    with open(os.path.join(tmp, "blur6.conv"), "w") as f:
        f.write("\n".join(lines + ["}", ""]))
    p = convc("check", "blur6.conv", "--dump=ir", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("again stage 1 with (") == 3, p.stdout
    x = np.random.default_rng(5).random((37, 45), dtype=np.float32)
    np.save(os.path.join(tmp, "bx.npy"), x)
    want = x.astype(np.float64)
    for _ in range(6):
        padded = np.pad(want, 1)
        want = sum(padded[dy:dy + 37, dx:dx + 45] for dy in range(3) for dx in range(3)) / 9
    for flag in ([], ["--no-kernels"]):
        p = convc("run", "blur6.conv", "x=bx.npy", "-o", "y=by.npy", *flag, cwd=tmp)
        assert p.returncode == 0, p.stderr
        got = np.load(os.path.join(tmp, "by.npy"))
        assert np.abs(got - want).max() < 1e-6, (flag, np.abs(got - want).max())


def test_compile_writes_object_and_header(tmp):
    p = convc("compile", "alias.conv", "-o", "alias.o", cwd=tmp)
    assert p.returncode == 0, p.stderr
    header = open(os.path.join(tmp, "alias.h")).read()
    # `output x` of the input x: the output's parameter is renamed so the
    # prototype is valid C, and the header compiles on its own
    assert ("int alias(const convrt_tensor *x, convrt_tensor *a, convrt_tensor *b, "
            "convrt_tensor *x_out, convrt_tensor *kk, convrt_tensor *s);") in header, header
    assert "x86-64-v3" in header
    inc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "include")
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I", inc, "-I", tmp,
                         "-x", "c", "-"], input='#include "alias.h"\n', capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    p = convc("compile", "alias.conv", "-o", "alias.ll", "--emit=llvm", cwd=tmp)
    assert p.returncode == 0 and "define i32 @alias(" in open(os.path.join(tmp, "alias.ll")).read()
    assert not os.path.exists(os.path.join(tmp, "alias.ll.h"))
    # with --emit=asm|llvm the header is written when --header names it
    os.remove(os.path.join(tmp, "alias.h"))
    p = convc("compile", "alias.conv", "-o", "with_header.s", "--emit=asm", "--header", "alias.h", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert open(os.path.join(tmp, "alias.h")).read() == header
    assert "alias:" in open(os.path.join(tmp, "with_header.s")).read()
    p = convc("compile", "alias.conv", "-o", "alias.s", "--emit=asm", "--target-cpu=no-such-cpu", cwd=tmp)
    assert p.returncode == 1 and "no-such-cpu" in p.stderr
    assert not os.path.exists(os.path.join(tmp, "alias.s"))


def chain(n):
    lines = ["pipeline chain {", "  input x: f32[4, 4]", "  a0 = relu(x)"]
    lines += [f"  a{i} = a{i - 1} + x" for i in range(1, n)]
    lines += [f"  output y = a{n - 1}", "}"]
    return "\n".join(lines) + "\n"


def test_long_scripts_stay_fast_and_shallow(tmp):
    import time
    # 20,000 statements: name lookup must not be quadratic
    with open(os.path.join(tmp, "long.conv"), "w") as f:
        f.write(chain(20000))
    t = time.monotonic()
    p = convc("check", "long.conv", cwd=tmp)
    took = time.monotonic() - t
    assert p.returncode == 0 and "output y: [4, 4]" in p.stdout, p.stderr[-500:]
    assert took < 1.0, f"check of 20,000 statements took {took:.2f} s"
    # 1,500 stages run: the chain is cut into materialised pieces and each
    # parallel loop's context holds only what it uses (it once held every
    # loop variable of the program, which overflowed the stack)
    with open(os.path.join(tmp, "chain.conv"), "w") as f:
        f.write(chain(1500))
    np.save(os.path.join(tmp, "x4.npy"), np.arange(16, dtype=np.float32).reshape(4, 4) - 8)
    p = convc("run", "chain.conv", "x=x4.npy", "-o", "y=y.npy", cwd=tmp)
    assert p.returncode == 0, p.stderr[-500:]
    x = np.arange(16, dtype=np.float32).reshape(4, 4) - 8
    want = np.maximum(x, 0) + 1499 * x
    assert np.array_equal(np.load(os.path.join(tmp, "y.npy")), want)
    # each parallel context holds the enclosing loops' variables (none for a
    # stage's outermost loop) and the locals its body uses, not the program's
    import re
    p = convc("check", "chain.conv", "--dump=llvm", cwd=tmp)
    sizes = [(int(v), int(l)) for v, l in
             re.findall(r"alloca \{ ptr, ptr, i64, \[(\d+) x i64\], \[(\d+) x float\] \}", p.stdout)]
    assert sizes, p.stdout[:300]
    assert max(v for v, _ in sizes) == 0 and max(l for _, l in sizes) <= 1, sizes[:5]
    # the pieces differ only in their buffers: they share a function per
    # kind of piece (first, middle, last), called from the stage table
    stage_fns = re.findall(r"define internal void @chain__stage_\d+\(", p.stdout)
    assert 1 <= len(stage_fns) <= 3, stage_fns
    assert "@chain.stages = private" in p.stdout, p.stdout[:300]


def test_threads_option_and_environment_give_the_same_bits(tmp):
    """--threads N, --threads=N and CONVRT_NUM_THREADS choose the thread
    count; the work split never changes a result"""
    script = os.path.join(tmp, "t.conv")
    with open(script, "w") as f:
        f.write("pipeline t {\n  input x: f32[1, 8, 40, 40]\n  input w: f32[16, 8, 3, 3]\n"
                "  output y = conv2d(x, w, pad=1) |> relu\n}\n")
    rng = np.random.default_rng(3)
    np.save(os.path.join(tmp, "x8.npy"), rng.standard_normal((1, 8, 40, 40)).astype(np.float32))
    np.save(os.path.join(tmp, "w8.npy"), rng.standard_normal((16, 8, 3, 3)).astype(np.float32))
    runs = {"1": ["--threads", "1"], "2": ["--threads", "2"], "3": ["--threads=3"]}
    outs = {}
    for name, extra in runs.items():
        p = convc("run", "t.conv", "x=x8.npy", "w=w8.npy", "-o", f"y=y{name}.npy", *extra, cwd=tmp)
        assert p.returncode == 0, p.stderr
        outs[name] = np.load(os.path.join(tmp, f"y{name}.npy"))
    env = dict(os.environ, CONVRT_NUM_THREADS="2")
    p = subprocess.run([CONVC, "run", "t.conv", "x=x8.npy", "w=w8.npy", "-o", "y=ye.npy"], cwd=tmp,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    outs["env"] = np.load(os.path.join(tmp, "ye.npy"))
    for name, y in outs.items():
        assert np.array_equal(y.view(np.uint32), outs["1"].view(np.uint32)), name
    for bad in (["--threads"], ["--threads", "0"], ["--threads", "x"], ["--threads=2000"]):
        p = convc("run", "t.conv", "x=x8.npy", "w=w8.npy", *bad, cwd=tmp)
        assert p.returncode != 0 and "--threads needs a number from 1 to 1024" in p.stderr, (bad, p.stderr)


# ---- files: what convc writes, and what it refuses to write or read ---------

def listing(tmp):
    return sorted(os.listdir(tmp))


def no_temporary_files(tmp):
    left = [f for f in os.listdir(tmp) if f.startswith(".convrt-") or ".tmp" in f or ".partial" in f]
    assert not left, f"temporary files left: {left}"


def run_with_known_pid(args, cwd, before):
    """Start convc, call before(pid) once its pid is known but before it runs,
    and return its exit status and stderr."""
    r, w = os.pipe()
    err = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os.chdir(cwd)
        os.dup2(err.fileno(), 2)
        os.execv(CONVC, [CONVC, *args])
    os.close(r)
    try:
        before(pid)
    finally:
        os.write(w, b"go")
        os.close(w)
    _, status = os.waitpid(pid, 0)
    err.seek(0)
    return os.waitstatus_to_exitcode(status), err.read().decode()


def peak_rss_mb(args, cwd):
    """convc's peak resident memory, from a child process of its own"""
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stderr.write(p.stderr); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if p.returncode == 0 else -1)")
    p = subprocess.run([sys.executable, "-c", code, CONVC, *args], cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and int(p.stdout) > 0, p.stderr
    return int(p.stdout) / 1024


def test_intermediates_of_stages_that_do_not_overlap_share_memory(tmp):
    """a chain of 20 blurs of a 2048x2048 image: 19 intermediates of 16 MB
    each, of which only two are ever in use at once -- the run needs
    about what a chain of 2 needs (without sharing: 270 MB more), and
    gives the numbers of a NumPy reference"""
    k = "[[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]]"

    def chain(n):
        lines = ["pipeline chain {", "  input x: f32[2048, 2048]", f"  const k: f32[3, 3] = {k}"]
        prev = "x"
        for i in range(1, n):
            lines.append(f"  a{i} = conv2d({prev}, k, pad=1)")
            prev = f"a{i}"
        lines += [f"  output y = conv2d({prev}, k, pad=1)", "}"]
        with open(os.path.join(tmp, f"chain{n}.conv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    x = np.random.default_rng(5).standard_normal((2048, 2048)).astype(np.float32)
    np.save(os.path.join(tmp, "big.npy"), x)
    rss = {}
    for n in (2, 20):
        chain(n)
        rss[n] = peak_rss_mb(["run", f"chain{n}.conv", "x=big.npy", "-o", f"y=y{n}.npy", "--no-cache"], tmp)
    assert rss[20] - rss[2] < 100, rss
    kk = np.array(eval(k))
    ref = x.astype(np.float64)
    for _ in range(20):
        p = np.pad(ref, 1)
        ref = sum(kk[i, j] * p[i:i + 2048, j:j + 2048] for i in range(3) for j in range(3))
    y = np.load(os.path.join(tmp, "y20.npy"))
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-5), np.abs(y - ref).max()


def test_a_planted_symlink_at_a_temporary_name_is_not_followed(tmp):
    # Temporary names were once the target's name plus the pid: a link
    # planted there made convc overwrite the file it pointed to, and left the
    # header as a link to it.
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious")
    planted = []

    def plant(names):
        def before(pid):
            for n in names(pid):
                os.symlink(victim, os.path.join(tmp, n))
                planted.append(n)
        return before

    cases = [
        (["compile", "alias.conv", "-o", "alias.o"], lambda pid: [f"alias.h.tmp{pid}"], ["alias.h", "alias.o"]),
        (["compile", "alias.conv", "-o", "alias.s", "--emit=asm"], lambda pid: [f"alias.s.tmp{pid}"], ["alias.s"]),
        (["compile", "alias.conv", "-o", "alias.ll", "--emit=llvm"], lambda pid: [f"alias.ll.tmp{pid}"],
         ["alias.ll"]),
        (["run", "alias.conv", "x=x.npy", "-o", "a=a.npy"], lambda pid: [f".a.npy.partial{pid}.npy"], ["a.npy"]),
    ]
    for args, names, made in cases:
        rc, err = run_with_known_pid(args, tmp, plant(names))
        assert rc == 0, (args, rc, err)
        assert open(victim).read() == "precious", (args, "the file behind the planted link was overwritten")
        for m in made:
            assert not os.path.islink(os.path.join(tmp, m)), (args, m, "is a link")
    for n in planted:
        assert os.path.islink(os.path.join(tmp, n)), n
        os.unlink(os.path.join(tmp, n))
    no_temporary_files(tmp)


def test_two_outputs_naming_the_same_file_are_refused(tmp):
    with open(os.path.join(tmp, "same.npy"), "w") as f:
        f.write("old")
    os.link(os.path.join(tmp, "same.npy"), os.path.join(tmp, "hard.npy"))
    os.symlink("same.npy", os.path.join(tmp, "soft.npy"))
    os.mkdir(os.path.join(tmp, "d"))
    for other in ["same.npy", "./same.npy", "d/../same.npy", "hard.npy", "soft.npy"]:
        p = convc("run", "alias.conv", "x=x.npy", "-o", "a=same.npy", "-o", f"b={other}", cwd=tmp)
        assert p.returncode == 1, (other, p.stderr)
        assert (f"convc: error: output 'a' ('same.npy') and output 'b' ('{other}') are the same file"
                in p.stderr), (other, p.stderr)
        assert open(os.path.join(tmp, "same.npy")).read() == "old", other
    # two new files are compared by where they would be made
    p = convc("run", "alias.conv", "x=x.npy", "-o", "a=new.npy", "-o", "b=d/../new.npy", cwd=tmp)
    assert p.returncode == 1 and "are the same file" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(tmp, "new.npy"))
    no_temporary_files(tmp)


def test_a_failing_later_output_leaves_earlier_outputs_untouched(tmp):
    def keep():
        with open(os.path.join(tmp, "a1.npy"), "w") as f:
            f.write("keep")
    os.mkdir(os.path.join(tmp, "dir.npy"))
    bad = [
        ("b=dir.npy", "output 'b': cannot save 'dir.npy': it is a directory"),
        ("b=missing/b.npy", "output 'b': cannot save 'missing/b.npy': directory 'missing': No such file or directory"),
        ("b=b.txt", "output 'b': cannot save 'b.txt': unknown extension"),
        ("b=b.png/", "output 'b': cannot save 'b.png/'"),
        ("b=x.npy", "output 'b' ('x.npy') would overwrite input 'x' ('x.npy')"),
        ("b=alias.conv.npy", None),     # a fine name: the run succeeds
        ("b=alias.conv", "output 'b' ('alias.conv') would overwrite the script 'alias.conv'"),
    ]
    for arg, msg in bad:
        keep()
        p = convc("run", "alias.conv", "x=x.npy", "-o", "a=a1.npy", "-o", arg, cwd=tmp)
        if msg is None:
            assert p.returncode == 0, p.stderr
            os.unlink(os.path.join(tmp, "alias.conv.npy"))
            continue
        assert p.returncode == 1, (arg, p.stderr)
        assert msg in p.stderr, (arg, p.stderr)
        assert open(os.path.join(tmp, "a1.npy")).read() == "keep", (arg, "a1.npy was replaced")
    # shapes an image cannot hold are refused before anything runs: kk is
    # [2, 3], fine; a rank-3 output with 2 channels is not
    with open(os.path.join(tmp, "c2.conv"), "w") as f:
        f.write("pipeline c2 {\n  input x: f32[2, H, W]\n  output y = relu(x)\n  output z = x\n}\n")
    np.save(os.path.join(tmp, "x3.npy"), np.zeros((2, 4, 4), np.float32))
    keep()
    p = convc("run", "c2.conv", "x=x3.npy", "-o", "z=a1.npy", "-o", "y=y.png", cwd=tmp)
    assert p.returncode == 1 and "output 'y': cannot save 'y.png': an image needs 1 or 3 channels" in p.stderr, \
        p.stderr
    assert open(os.path.join(tmp, "a1.npy")).read() == "keep"
    # and when the number of channels is only known from the input
    with open(os.path.join(tmp, "c3.conv"), "w") as f:
        f.write("pipeline c3 {\n  input x: f32[C, H, W]\n  output y = relu(x)\n  output z = x\n}\n")
    p = convc("run", "c3.conv", "x=x3.npy", "-o", "z=a1.npy", "-o", "y=y.png", cwd=tmp)
    assert p.returncode == 1 and "output 'y': cannot save 'y.png': an image needs 1 or 3 channels" in p.stderr, \
        p.stderr
    assert open(os.path.join(tmp, "a1.npy")).read() == "keep"
    assert not os.path.exists(os.path.join(tmp, "y.png"))
    no_temporary_files(tmp)


def test_compile_never_destroys_files(tmp):
    keep_h = os.path.join(tmp, "keep.h")
    with open(keep_h, "w") as f:
        f.write("keep")
    script = open(os.path.join(tmp, "alias.conv")).read()
    cases = [
        (["--header", "keep.h", "-o", "/nonexistent/x.o"],
         "cannot save '/nonexistent/x.o': directory '/nonexistent': No such file or directory"),
        (["-o", "alias.conv"], "-o 'alias.conv' would overwrite the script 'alias.conv'"),
        (["-o", "alias.conv", "--emit=asm"], "-o 'alias.conv' would overwrite the script 'alias.conv'"),
        (["-o", "a.o", "--header", "alias.conv"], "the header 'alias.conv' would overwrite the script 'alias.conv'"),
        (["-o", "./alias.conv.o", "--header", "alias.conv.o"], "are the same file"),
        (["-o", "x.npy.o", "--header", "keep.h/"], "cannot save 'keep.h/'"),
    ]
    for args, msg in cases:
        p = convc("compile", "alias.conv", *args, cwd=tmp)
        assert p.returncode == 1, (args, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
        assert open(keep_h).read() == "keep", (args, "keep.h changed")
        assert open(os.path.join(tmp, "alias.conv")).read() == script, (args, "the script changed")
        assert listing(tmp) == ["alias.conv", "keep.h", "x.npy"], (args, listing(tmp))
    # a load()ed file is read, so it is not written either
    with open(os.path.join(tmp, "w.conv"), "w") as f:
        f.write('pipeline w {\n  input x: f32[2, 3]\n  const k = load("x.npy")\n  output y = x * k\n}\n')
    p = convc("compile", "w.conv", "-o", "x.npy", cwd=tmp)
    assert p.returncode == 1 and "-o 'x.npy' would overwrite './x.npy', which the script loads" in p.stderr, p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "x.npy")), X)
    # -o that does not end in .o works, with a warning
    p = convc("compile", "alias.conv", "-o", "alias.obj", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "convc: warning: -o 'alias.obj' does not end in '.o'" in p.stderr, p.stderr
    assert os.path.exists(os.path.join(tmp, "alias.obj")) and os.path.exists(os.path.join(tmp, "alias.obj.h"))
    no_temporary_files(tmp)


def test_replacing_a_file_keeps_its_mode_and_owner(tmp):
    secret = os.path.join(tmp, "secret.npy")
    for args in (["run", "alias.conv", "x=x.npy", "-o", "a=secret.npy"],
                 ["compile", "alias.conv", "-o", "secret.o", "--header", "secret.npy"]):
        with open(secret, "w") as f:
            f.write("old")
        os.chmod(secret, 0o600)
        if os.geteuid() == 0:
            os.chown(secret, 4321, 4322)
        p = convc(*args, cwd=tmp)
        assert p.returncode == 0, (args, p.stderr)
        st = os.stat(secret)
        assert st.st_mode & 0o7777 == 0o600, (args, oct(st.st_mode))
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (4321, 4322), (args, st.st_uid, st.st_gid)
    # a new file gets the umask's permissions, as with any program
    p = convc("run", "alias.conv", "x=x.npy", "-o", "a=fresh.npy", cwd=tmp)
    assert p.returncode == 0 and os.stat(os.path.join(tmp, "fresh.npy")).st_mode & 0o777 == 0o644
    # another hard link keeps the old contents, and a warning says so
    with open(secret, "w") as f:
        f.write("old")
    os.link(secret, os.path.join(tmp, "other.npy"))
    p = convc("run", "alias.conv", "x=x.npy", "-o", "a=secret.npy", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert ("convc: warning: 'secret.npy' had 1 other hard link; it was replaced by a new file, "
            "and the other names keep the old contents") in p.stderr, p.stderr
    assert open(os.path.join(tmp, "other.npy")).read() == "old"
    no_temporary_files(tmp)


def test_an_output_name_of_255_bytes_works(tmp):
    # the temporary name was the target's plus a prefix and a suffix
    name = "y" * 251 + ".npy"
    p = convc("run", "alias.conv", "x=x.npy", "-o", f"a={name}", cwd=tmp)
    assert p.returncode == 0, p.stderr[:300]
    assert np.array_equal(np.load(os.path.join(tmp, name)), np.maximum(X, 0))
    obj = "o" * 253 + ".o"
    p = convc("compile", "alias.conv", "-o", obj, cwd=tmp)
    assert p.returncode == 0, p.stderr[:300]
    assert os.path.exists(os.path.join(tmp, obj)) and os.path.exists(os.path.join(tmp, obj[:-2] + ".h"))
    p = convc("compile", "alias.conv", "-o", "s" * 253 + ".s", "--emit=asm", cwd=tmp)
    assert p.returncode == 0, p.stderr[:300]
    no_temporary_files(tmp)


def test_a_fifo_a_directory_or_an_empty_name_as_input_is_refused_without_blocking(tmp):
    os.mkfifo(os.path.join(tmp, "fifo.npy"))
    os.mkfifo(os.path.join(tmp, "fifo.conv"))
    os.mkdir(os.path.join(tmp, "sub"))
    os.mkdir(os.path.join(tmp, "d.npy"))

    def load_script(path):
        def make():
            with open(os.path.join(tmp, "l.conv"), "w") as f:
                f.write(f'pipeline l {{\n  input x: f32[2, 3]\n  const w = load("{path}")\n  output y = x\n}}\n')
            return ["check", "l.conv"]
        return make

    cases = [
        (load_script("fifo.npy"), "l.conv:3:18: error: load: cannot load './fifo.npy': it is a FIFO, not a regular file"),
        (load_script("sub"), "l.conv:3:18: error: load: cannot load './sub': it is a directory, not a regular file"),
        (load_script(""), "l.conv:3:18: error: load: the file name is empty"),
        (load_script("."), "l.conv:3:18: error: load: cannot load './.': it is a directory, not a regular file"),
        (["run", "alias.conv", "x=fifo.npy"], "convc: error: cannot load 'fifo.npy': it is a FIFO, not a regular file"),
        (["run", "alias.conv", "x=d.npy"], "convc: error: cannot load 'd.npy': it is a directory, not a regular file"),
        (["run", "alias.conv", "x=gone.npy"], "convc: error: cannot load 'gone.npy': No such file or directory"),
        (["check", "fifo.conv"], "fifo.conv: error: the script is a FIFO, not a regular file"),
        (["check", "sub"], "sub: error: the script is a directory, not a regular file"),
    ]
    for args, msg in cases:
        if callable(args):
            args = args()
        try:
            p = subprocess.run([CONVC, *args], cwd=tmp, capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{args}: blocked for 10 s")
        assert p.returncode == 1, (args, p.stderr)
        assert msg in p.stderr, (args, p.stderr)


def test_a_palette_png_with_transparency_loads_with_a_warning(tmp):
    import struct, zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 3, 8, 3, 0, 0, 0))
           + chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) + chunk(b"tRNS", bytes([0]))
           + chunk(b"IDAT", zlib.compress(b"\0\0\1" * 3)) + chunk(b"IEND", b""))
    with open(os.path.join(tmp, "pal.png"), "wb") as f:
        f.write(png)
    with open(os.path.join(tmp, "rgb.conv"), "w") as f:
        f.write("pipeline rgb {\n  input img: f32[3, H, W]\n  output y = img\n}\n")
    p = convc("run", "rgb.conv", "img=pal.png", "-o", "y=y.npy", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "convc: warning: 'pal.png': transparency dropped" in p.stderr, p.stderr
    want = np.zeros((3, 3, 2), np.float32)
    want[0, :, 0] = 1
    want[2, :, 1] = 1
    assert np.array_equal(np.load(os.path.join(tmp, "y.npy")), want)


def test_an_image_header_larger_than_the_file_is_refused_before_allocating(tmp):
    with open(os.path.join(tmp, "huge.pgm"), "wb") as f:
        f.write(b"P5\n100000 100000\n255\n" + bytes(18))     # 39 bytes
    with open(os.path.join(tmp, "gray.conv"), "w") as f:
        f.write("pipeline gray {\n  input img: f32[H, W]\n  output y = img\n}\n")
    import resource

    def limit():   # 1 GB: a 10 GB allocation, even one never touched, fails
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    if os.environ.get("CONVC_SANITIZED"):
        limit = None    # the sanitizers reserve terabytes of address space
    p = subprocess.run([CONVC, "run", "gray.conv", "img=huge.pgm", "-o", "y=y.npy"], cwd=tmp,
                       capture_output=True, text=True, timeout=60, preexec_fn=limit)
    assert p.returncode == 1, p.stderr
    assert ("cannot load 'huge.pgm': pixel data: truncated: the header says 100000 x 100000 pixels, which "
            "need 10000000000 bytes, but the file has 18 after the header") in p.stderr, p.stderr
    # a PNG whose IHDR claims 1000000 x 1000000 pixels, and one with a text
    # chunk whose length field says 2 GB (libpng allocates that much for a
    # text chunk before reading it)
    import struct, zlib

    def chunk(kind, data, length=None):
        return (struct.pack(">I", len(data) if length is None else length) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = lambda w, h: chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    sig = b"\x89PNG\r\n\x1a\n"
    pngs = {
        "ihdr.png": (sig + ihdr(1000000, 1000000) + chunk(b"IDAT", zlib.compress(bytes(8))) + chunk(b"IEND", b""),
                     "cannot load 'ihdr.png': truncated: the header says 1000000 x 1000000 pixels"),
        "text.png": (sig + ihdr(1, 1) + chunk(b"zTXt", b"Big\0\0" + zlib.compress(b"x"), length=0x7ffffff0),
                     "cannot load 'text.png': truncated: the file ends after"),
    }
    for name, (data, msg) in pngs.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
        p = subprocess.run([CONVC, "run", "gray.conv", f"img={name}", "-o", "y=y.npy"], cwd=tmp,
                           capture_output=True, text=True, timeout=60, preexec_fn=limit)
        assert p.returncode == 1 and msg in p.stderr, (name, p.stderr)
    # the pixel ceiling, lowered for the test
    with open(os.path.join(tmp, "small.pgm"), "wb") as f:
        f.write(b"P5\n20 10\n255\n" + bytes(200))
    env = dict(os.environ, CONVRT_MAX_IMAGE_PIXELS="199")
    p = subprocess.run([CONVC, "run", "gray.conv", "img=small.pgm", "-o", "y=y.npy"], cwd=tmp,
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1, p.stderr
    assert ("cannot load 'small.pgm': the image is 20 x 10 pixels, above the limit of 199 pixels "
            "(set CONVRT_MAX_IMAGE_PIXELS to raise it)") in p.stderr, p.stderr
    env["CONVRT_MAX_IMAGE_PIXELS"] = "200"
    p = subprocess.run([CONVC, "run", "gray.conv", "img=small.pgm", "-o", "y=y.npy"], cwd=tmp,
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr


def test_running_out_of_memory_while_compiling_exits_1_and_leaves_no_file(tmp):
    if os.environ.get("CONVC_SANITIZED"):
        print("     (skipped: the sanitizers cannot run under an address-space limit)")
        return
    import resource
    lines = ["pipeline big {", "  input x: f32[H, W]", "  a0 = conv2d(x, sobel_x, pad=same)"]
    lines += [f"  a{i} = conv2d(a{i - 1}, box2d(3), pad=same) * a{i - 1}" for i in range(1, 80)]
    lines += ["  output y = a79", "}"]
    with open(os.path.join(tmp, "big.conv"), "w") as f:
        f.write("\n".join(lines) + "\n")

    def run(limit_mb, *args):
        def lim():
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
        return subprocess.run([CONVC, *args], cwd=tmp, capture_output=True, text=True, timeout=120,
                              preexec_fn=lim)
    # Below some limit convc cannot even be loaded, or LLVM's own static
    # initialisation fails before main(): start where --version works.
    start = next((mb for mb in range(64, 1024, 2) if run(mb, "--version").returncode == 0), None)
    assert start is not None, "convc --version fails under every limit up to 1 GB"
    hits = 0
    for mb in range(start, start + 200, 4):
        p = run(mb, "compile", "big.conv", "-o", "big.o")
        assert p.returncode in (0, 1), (mb, p.returncode, p.stderr[-300:])
        if p.returncode == 0:
            break
        assert "convc: error: out of memory while compiling" in p.stderr, (mb, p.stderr[-300:])
        assert listing(tmp) == ["alias.conv", "big.conv", "x.npy"], (mb, listing(tmp))
        hits += 1
    assert hits > 0, f"no limit from {start} MB up made the compiler run out of memory"
    assert p.returncode == 0, "no limit up to 200 MB above the start was enough to compile"


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from testmain import main
    main(globals(), setup)
