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
        print("\n".join(CASES))
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    convc = os.path.abspath(argv[0])
    names = argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    failed = 0
    for n in names:
        why = check_case(convc, n)
        if why:
            failed += 1
            print(f"FAIL {n}: {why}")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
