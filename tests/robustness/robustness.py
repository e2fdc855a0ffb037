#!/usr/bin/env python3
"""Malformed and oversized scripts must fail cleanly and fast.

usage: robustness.py CONVC [CASE ...]     run the named cases (all when none is named)
       robustness.py --list               print the case names

Each case writes a script into a fresh temporary directory and runs
`convc check FILE` there. It passes when convc
  - exits with status 1 (not 0, not killed by a signal, not another code),
  - prints on stderr a diagnostic whose first line starts with the file name:
    `FILE:LINE:COL: error: ...` or `FILE: error: ...`,
  - reports no sanitizer finding on stderr,
  - finishes within LIMIT seconds (1 s; CONVC_ROBUSTNESS_LIMIT overrides it, e.g.
    under valgrind). The run itself is given a 10 s timeout.

The scale cases (SCALE below) are long pipelines written by a generator: a
chain of 100,000 convolutions (checked, and compiled at -O0), 2,000 halvings,
sizes that nest without folding. convc must finish them with the expected outcome while its peak
resident memory stays under MEMORY_CEILING (watched while it runs, and the run
is stopped when it passes it), and its output and objects must stay small.
With CONVC_SANITIZE=1 in the environment (the sanitizer build) the ceiling and
the time limits are three times larger.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time

LIMIT = float(os.environ.get("CONVC_ROBUSTNESS_LIMIT", "1.0"))
TIMEOUT = 10.0

HEAD = "pipeline p {\n  input x: f32[4, 8, 8]\n"


def random_bytes(seed, size):
    def make():
        return random.Random(seed).randbytes(size)
    return make


def text(s):
    return lambda: s.encode("latin1")


# name -> (file name given to convc, content maker or None when the file is not created,
#          "dir" for a directory)
CASES = {}
for seed, size in [(1, 1), (2, 16), (3, 256), (4, 4096), (5, 65536), (6, 1 << 20)]:
    CASES[f"random_bytes_{size}"] = ("random.conv", random_bytes(seed, size))
CASES.update({
    "nul_byte_in_script": ("nul.conv", text(HEAD + "  output y = re\0lu(x)\n}\n")),
    "line_of_1mb": ("long_line.conv", text(HEAD + "  output y = relu(" + "x" * (1 << 20) + ")\n}\n")),
    "comment_of_1mb_then_error": ("long_comment.conv",
                                  text(HEAD + "  #" + "c" * (1 << 20) + "\n  output y = relu(x,\n}\n")),
    "nested_parens_100000": ("parens.conv",
                             text(HEAD + "  output y = " + "(" * 100000 + "x" + ")" * 100000 + "\n}\n")),
    "unclosed_parens_100000": ("unclosed.conv", text(HEAD + "  output y = " + "(" * 100000 + "x\n}\n")),
    "sum_of_100000_terms": ("sum.conv", text(HEAD + "  output y = " + " + ".join(["x"] * 100000) + "\n}\n")),
    "nested_calls_100000": ("calls.conv",
                            text(HEAD + "  output y = " + "relu(" * 100000 + "x" + ")" * 100000 + "\n}\n")),
    "unary_minus_100000": ("minus.conv", text(HEAD + "  output y = " + "-" * 100000 + "x\n}\n")),
    "integer_of_30_digits_dim": ("bigint.conv",
                                 text("pipeline p {\n  input x: f32[123456789012345678901234567890]\n"
                                      "  output y = relu(x)\n}\n")),
    "integer_of_30_digits_option": ("bigint_opt.conv",
                                    text("pipeline p {\n  input x: f32[1, 8, 8]\n  input w: f32[1, 1, 3, 3]\n"
                                         "  output y = conv2d(x, w, stride=123456789012345678901234567890)\n}\n")),
    "empty_file": ("empty.conv", text("")),
    "missing_file": ("does_not_exist.conv", None),
    "directory_as_script": ("a_directory.conv", "dir"),
    "dims_of_10_to_the_12": ("huge.conv",
                             text("pipeline p {\n  input x: f32[1000000000000, 1000000000000]\n"
                                  "  output y = conv2d(x, sobel_x, pad=same)\n}\n")),
})

SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")

# ---- scale cases ------------------------------------------------------------

SLOW = 3 if os.environ.get("CONVC_SANITIZE") == "1" else 1
MEMORY_CEILING = int(1.5 * (1 << 30)) * SLOW     # bytes of peak resident memory


def chain(n, stage):
    """pipeline over x: f32[H, W] with n stages, each applied to the previous one"""
    lines = ["pipeline chain {", "  input x: f32[H, W]", "  const k = box2d(3)"]
    prev = "x"
    for i in range(1, n + 1):
        name = "y" if i == n else f"t{i}"
        lines.append(f"  {'output ' if i == n else ''}{name} = {stage.format(prev)}")
        prev = name
    return "\n".join(lines + ["}", ""])


def nested(n):
    """sizes that nest without folding: pooling a full convolution leaves two
    terms inside every floor"""
    lines = ["pipeline nested {", "  input v: f32[1, W]", "  input u: f32[1, U]"]
    prev = "v"
    for i in range(1, n + 1):
        lines.append(f"  c{i} = convolve({prev}, u, mode=full)")
        name = "y" if i == n else f"p{i}"
        lines.append(f"  {'output ' if i == n else ''}{name} = avgpool1d(c{i}, 3, stride=3)")
        prev = name
    return "\n".join(lines + ["}", ""])


# name -> dict: script (text), command ("check" or "compile"), rc, and what the
# output must show: stdout (substrings), stderr (regex on the first line),
# stdout_max (bytes), object_max (bytes: a bound on growth, far above the
# code's own size), string_max (the longest printable run in the object: a
# runtime-check message), strings_max (all printable runs of 16 or more
# characters together), seconds (time limit)
SCALE = {
    "chain_of_100000_convolutions": dict(
        script=lambda: chain(100000, "conv2d({}, k, pad=same)"), command="check", rc=0,
        stdout=["100000 stages", "  total MACs: H*W*900000\n", "  output y: [H, W]\n"],
        stdout_max=100 * 100000, seconds=30),
    # stages equal up to their buffers share one function and the body walks
    # a table: the object grows by a table entry and a descriptor entry per
    # stage, not by code (about 75 bytes a stage)
    "chain_of_100000_convolutions_compile": dict(
        script=lambda: chain(100000, "conv2d({}, k, pad=same)"), command="compile", rc=0,
        object_max=128 * 100000, string_max=200, strings_max=64 << 10, seconds=60),
    "chain_of_100000_valid_convolutions": dict(
        script=lambda: chain(100000, "conv2d({}, k)"), command="check", rc=0,
        stdout=["  total MACs: H*W*900000 - H*90000900000 - W*90000900000 + 12000180000600000\n",
                "  output y: [H - 200000, W - 200000]\n"],
        stdout_max=200 * 100000, seconds=30),
    "chain_of_2000_pools_empties_every_input": dict(
        script=lambda: chain(2000, "maxpool2d({}, 2)"), command="check", rc=1,
        stderr=r"chain\.conv:64:9: error: maxpool2d: output height .* = H/2305843009213693952 is at most 0 "
               r"for every input, so it is always empty \(H is at most 2305843009213693951: ",
        seconds=10),
    "chain_of_2000_pools_compile": dict(
        script=lambda: chain(2000, "maxpool2d({}, 2)"), command="compile", rc=1,
        stderr=r"chain\.conv:64:9: error: maxpool2d: output height .* is always empty", seconds=10),
    "chain_of_2000_ceil_pools": dict(
        script=lambda: chain(2000, "maxpool2d({}, 2, ceil_mode=true)"), command="check", rc=0,
        stdout=["  output y: [1, 1]\n"], stdout_max=400 * 2000, seconds=10),
    "chain_of_400_ceil_pools_compile": dict(
        script=lambda: chain(400, "maxpool2d({}, 2, ceil_mode=true)"), command="compile", rc=0,
        object_max=400 * 16384, string_max=200, strings_max=64 << 10, seconds=60),
    "nested_sizes_2000_stages": dict(
        script=lambda: nested(2000), command="check", rc=0,
        stdout=["  output y: [1, (c1999.dims[1]/3 + U - 1)/3]\n"], stdout_max=600 * 2000, seconds=20),
    "nested_sizes_400_stages_compile": dict(
        script=lambda: nested(400), command="compile", rc=0,
        object_max=800 * 16384, string_max=200, strings_max=200 << 10, seconds=120),
}


def run_watched(cmd, cwd, seconds, ceiling):
    """Run cmd, stopping it past `seconds` or `ceiling` bytes of resident
    memory; (exit code, peak bytes, seconds, stdout, stderr, why stopped)."""
    with open(os.path.join(cwd, "stdout"), "wb") as out, open(os.path.join(cwd, "stderr"), "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        peak, stopped = 0, None
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            if not stopped and peak > ceiling:
                stopped = f"stopped at {peak >> 20} MB of memory"
                p.kill()
            elif not stopped and time.monotonic() - t0 > seconds:
                stopped = f"stopped after {seconds} s"
                p.kill()
            time.sleep(0.02)
        secs = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    peak = max(peak, usage.ru_maxrss * 1024)
    with open(os.path.join(cwd, "stdout"), "rb") as f:
        stdout = f.read()
    with open(os.path.join(cwd, "stderr"), "rb") as f:
        stderr = f.read()
    return p.returncode, peak, secs, stdout, stderr, stopped


def printable_runs(data):
    return [len(m) for m in re.findall(rb"[ -~]{16,}", data)]


def check_scale(convc, name):
    case = SCALE[name]
    with tempfile.TemporaryDirectory(prefix="convc-scale-") as tmp:
        with open(os.path.join(tmp, "chain.conv"), "w") as f:
            f.write(case["script"]())
        cmd = [convc, "check", "chain.conv"] if case["command"] == "check" else \
              [convc, "compile", "chain.conv", "-o", "chain.o", "-O0"]
        rc, peak, secs, out, err, stopped = run_watched(cmd, tmp, case["seconds"] * SLOW, MEMORY_CEILING)
        problems = []
        obj = os.path.join(tmp, "chain.o")
        if stopped:
            problems.append(stopped)
        elif rc != case["rc"]:
            problems.append(f"exit status {rc}, expected {case['rc']}")
        if peak > MEMORY_CEILING:
            problems.append(f"peak memory {peak >> 20} MB, ceiling {MEMORY_CEILING >> 20} MB")
        text, etext = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        for want in case.get("stdout", []):
            if want not in text:
                problems.append(f"stdout lacks {want!r}")
        if "stderr" in case and not re.match(case["stderr"], etext):
            problems.append(f"stderr should match {case['stderr']!r}, got {etext[:300]!r}")
        if SANITIZER.search(etext):
            problems.append("sanitizer report on stderr")
        if len(out) > case.get("stdout_max", 1 << 62):
            problems.append(f"stdout is {len(out)} bytes, at most {case['stdout_max']} expected")
        if case["command"] == "compile" and case["rc"] != 0:
            left = sorted(set(os.listdir(tmp)) - {"chain.conv", "stdout", "stderr"})
            if left:
                problems.append(f"a failed compile left files: {left}")
        if "object_max" in case and not problems:
            with open(obj, "rb") as f:
                data = f.read()
            if len(data) > case["object_max"]:
                problems.append(f"object is {len(data)} bytes, at most {case['object_max']} expected")
            runs = printable_runs(data)
            if max(runs, default=0) > case["string_max"]:
                problems.append(f"the object holds a {max(runs)}-character string (a formula repeated in a "
                                f"runtime-check message?), at most {case['string_max']} expected")
            if sum(runs) > case["strings_max"]:
                problems.append(f"the object holds {sum(runs)} bytes of text, at most {case['strings_max']} "
                                f"expected")
    if problems:
        return "; ".join(problems) + f" (ran {secs:.2f} s, peak {peak >> 20} MB)"
    print(f"ok   {name}: exit {rc} in {secs:.2f} s, peak {peak >> 20} MB, stdout {len(out)} bytes")
    return None


def check_case(convc, name):
    fname, make = CASES[name]
    with tempfile.TemporaryDirectory(prefix="convc-robust-") as tmp:
        path = os.path.join(tmp, fname)
        if make == "dir":
            os.mkdir(path)
        elif make is not None:
            with open(path, "wb") as f:
                f.write(make())
        t0 = time.monotonic()
        try:
            p = subprocess.run([convc, "check", fname], cwd=tmp, capture_output=True,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"no exit within the {TIMEOUT:.0f} s timeout"
        except OSError as e:
            return f"could not start {convc}: {e}"
        secs = time.monotonic() - t0
    err = p.stderr.decode("utf-8", "replace")
    first = next((l for l in err.splitlines() if l.strip()), "")
    problems = []
    if p.returncode < 0:
        problems.append(f"killed by signal {-p.returncode}")
    elif p.returncode != 1:
        problems.append(f"exit status {p.returncode}, expected 1")
    if not re.match(rf"{re.escape(fname)}(:\d+:\d+)?: error: \S", first):
        problems.append(f"first stderr line should start '{fname}:LINE:COL: error:' or "
                        f"'{fname}: error:', got {first[:200]!r}")
    if SANITIZER.search(err):
        problems.append("sanitizer report on stderr: " +
                        next(l for l in err.splitlines() if SANITIZER.search(l))[:200])
    if secs > LIMIT:
        problems.append(f"took {secs:.3f} s, limit {LIMIT:.3f} s")
    if problems:
        return "; ".join(problems) + f" (ran {secs:.3f} s)"
    print(f"ok   {name}: exit 1 in {secs:.3f} s: {first[:120]}")
    return None


def main():
    argv = sys.argv[1:]
    if argv == ["--list"]:
        print("\n".join(list(CASES) + list(SCALE)))
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    convc = os.path.abspath(argv[0])
    names = argv[1:] or list(CASES) + list(SCALE)
    unknown = [n for n in names if n not in CASES and n not in SCALE]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    failed = 0
    for n in names:
        why = check_scale(convc, n) if n in SCALE else check_case(convc, n)
        if why:
            failed += 1
            print(f"FAIL {n}: {why}")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
