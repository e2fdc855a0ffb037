#!/usr/bin/env python3
"""Run the .conv conformance cases against a convc binary.

usage: run.py CONVC [CASES_DIR] [-k SUBSTRING | --exact NAME] [-v]

  -k SUBSTRING   run the cases whose directory name contains SUBSTRING
  --exact NAME   run only the case named NAME (exit 2 if there is no such case)

Each case directory holds script.conv and either
  in_<name>.npy / expect_<name>.npy  -> `convc run script.conv <name>=in_<name>.npy ... -o <name>=OUT.npy ...`
                                         outputs must match in shape and value
  case.json {"error_line": L}        -> `convc check script.conv` must exit non-zero and print
                                         a diagnostic that starts `script.conv:L:`
  case.json {"runtime_error": true}  -> `convc run ...` must exit non-zero, say why on stderr,
                                         and write no output file
Expected values come from PyTorch, NumPy and SciPy (float64 reference, stored as float32).
Only the Python standard library is used. The last line reads `N passed, M failed`.
"""
import array, ast, glob, json, os, re, subprocess, sys, tempfile

RTOL = 1e-4


def read_npy(path):
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(f"{path}: not an .npy file")
        major = f.read(2)[0]
        hlen = int.from_bytes(f.read(2 if major == 1 else 4), "little")
        header = ast.literal_eval(f.read(hlen).decode("latin1"))
        if header.get("fortran_order"):
            raise ValueError(f"{path}: fortran order is not read here")
        code = {"<f4": "f", "<f8": "d"}.get(header["descr"])
        if code is None:
            raise ValueError(f"{path}: dtype {header['descr']} is not read here")
        data = array.array(code)
        data.frombytes(f.read())
        return tuple(header["shape"]), data


def compare(got_path, exp_path):
    eshape, e = read_npy(exp_path)
    gshape, g = read_npy(got_path)
    if gshape != eshape:
        return f"shape {list(gshape)}, expected {list(eshape)}"
    scale = max([1.0] + [abs(v) for v in e])
    for i, (a, b) in enumerate(zip(g, e)):
        if not abs(a - b) <= RTOL * scale + RTOL * abs(b):  # also catches NaN
            return f"value {a!r} at flat index {i}, expected {b!r}"
    return None


def run(cmd, cwd):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", "timed out after 60 s"
    except OSError as e:
        return None, "", f"could not start: {e}"


def check_case(convc, d):
    meta = {}
    if os.path.exists(os.path.join(d, "case.json")):
        with open(os.path.join(d, "case.json")) as f:
            meta = json.load(f)
    if "error_line" in meta:
        rc, _, err = run([convc, "check", "script.conv"], d)
        if rc is None or rc <= 0 or rc >= 128:
            return f"expected a diagnostic and a non-zero exit, got exit {rc}"
        if not re.search(rf"(^|\n)script\.conv:{meta['error_line']}:\d+: error", err):
            first = err.strip().splitlines()[:1]
            return f"expected 'script.conv:{meta['error_line']}:COL: error', got {first}"
        return None
    ins = sorted(glob.glob(os.path.join(d, "in_*.npy")))
    args = [f"{os.path.basename(p)[3:-4]}={os.path.basename(p)}" for p in ins]
    with tempfile.TemporaryDirectory() as tmp:
        if meta.get("runtime_error"):
            with open(os.path.join(d, "script.conv")) as f:
                outs = re.findall(r"\boutput\s+(\w+)", f.read())
        else:
            outs = [os.path.basename(p)[7:-4] for p in sorted(glob.glob(os.path.join(d, "expect_*.npy")))]
        for o in outs:
            args += ["-o", f"{o}={os.path.join(tmp, o + '.npy')}"]
        rc, _, err = run([convc, "run", "script.conv"] + args, d)
        written = [o for o in outs if os.path.exists(os.path.join(tmp, o + ".npy"))]
        if meta.get("runtime_error"):
            if rc is None or rc <= 0 or rc >= 128:
                return f"expected a clean non-zero exit, got exit {rc}"
            if not err.strip():
                return "failed without saying why on stderr"
            if written:
                return f"wrote {written} although the run failed"
            return None
        if rc != 0:
            return f"exit {rc}: {err.strip().splitlines()[:2]}"
        for o in outs:
            if o not in written:
                return f"output {o} was not written"
            why = compare(os.path.join(tmp, o + ".npy"), os.path.join(d, f"expect_{o}.npy"))
            if why:
                return f"output {o}: {why}"
    return None


def main():
    argv = sys.argv[1:]
    verbose = "-v" in argv
    argv = [a for a in argv if a != "-v"]
    pat = exact = None
    for opt in ("-k", "--exact"):
        if opt in argv:
            i = argv.index(opt)
            if i + 1 >= len(argv):
                print(f"{opt} needs a value", file=sys.stderr); sys.exit(2)
            if opt == "-k":
                pat = argv[i + 1]
            else:
                exact = argv[i + 1]
            del argv[i:i + 2]
    if not argv:
        print(__doc__); sys.exit(2)
    convc = os.path.abspath(argv[0])
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    cases = sorted(d for d in glob.glob(os.path.join(root, "*")) if os.path.isdir(d))
    if pat:
        cases = [d for d in cases if pat in os.path.basename(d)]
    if exact is not None:
        cases = [d for d in cases if os.path.basename(d) == exact]
        if not cases:
            print(f"no case named {exact!r} in {root}", file=sys.stderr); sys.exit(2)
    passed = failed = 0
    for d in cases:
        why = check_case(convc, d)
        if why:
            failed += 1
            print(f"FAIL {os.path.basename(d)}: {why}")
        else:
            passed += 1
            if verbose:
                print(f"ok   {os.path.basename(d)}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
