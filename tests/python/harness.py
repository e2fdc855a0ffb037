"""Runs the test_* functions of a test file, each in its own temporary
directory: `python3 FILE.py CONVC [TEST ...]`.  The module is imported
from PYTHONPATH (build/python under ctest)."""
import os, sys, tempfile, traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")


def main(tests):
    tests = {n: f for n, f in tests.items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                tests[name](tmp)
                print(f"ok   {name}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {name}:\n{traceback.format_exc()}", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
