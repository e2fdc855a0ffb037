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
    assert len(sizes) > 50, p.stdout[:300]
    assert max(v for v, _ in sizes) == 0 and max(l for _, l in sizes) <= 1, sizes[:5]


def test_running_out_of_memory_while_compiling_exits_1(tmp):
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
        hits += 1
    assert hits > 0, f"no limit from {start} MB up made the compiler run out of memory"
    assert p.returncode == 0, "no limit up to 200 MB above the start was enough to compile"


def main():
    tests = {n: f for n, f in globals().items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            setup(tmp)
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
