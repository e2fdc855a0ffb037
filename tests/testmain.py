"""The runner shared by the Python test files that take the convc command
as argv[1]: `python3 FILE.py CONVC [TEST ...]` runs the file's test_*
functions (or the ones named), each in a temporary directory of its own,
after the file's setup(tmp) when it has one; a failed assert prints FAIL
with its message and the exit status is 1 if any failed."""
import sys, tempfile


def main(namespace, setup=None):
    tests = {n: f for n, f in namespace.items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            if setup:
                setup(tmp)
            try:
                tests[name](tmp)
                print(f"ok   {name}", flush=True)
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name}: {e}", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
