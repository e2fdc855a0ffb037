#!/usr/bin/python3
"""Turn the filtering benchmark's result lines into the report's tables.

    filters_report.py --copy COPY_FILE [--compile MANIFEST] RESULTS.jsonl ...

RESULTS are the JSON lines of bench/filters.py, one file per thread count;
COPY_FILE is bench/copybw.c's output ("copy THREADS GB/S MIB" lines, the
best of the runs before and after the workloads); MANIFEST is the list of
scripts that scripts/bench.sh wrote, with their compile times.
bench/README.md explains every column.

Every time in a column comes from one process, where all the
implementations of a workload were sampled in turn, so the ratios hold
under load.  Exit status 1 if a check failed or a result is missing.
"""
import argparse
import json
import os
import sys

TOLERANCE = 1e-4
IDS = ["W8", "W8n", "W9-15", "W9-4096", "W12", "W13"]


def read_copy(path):
    """{threads: (GB/s, buffer MiB)}"""
    bw = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "copy":
                bw[int(p[1])] = (float(p[2]), int(p[3]))
    return bw


def fmt_ms(ms):
    if ms is None:
        return "-"
    return f"{ms:.2f}" if ms < 100 else f"{ms:.1f}" if ms < 10000 else f"{ms:.0f}"


def plural(t):
    return f"{t} thread{'s' if t > 1 else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copy", required=True)
    ap.add_argument("--compile")
    ap.add_argument("results", nargs="+")
    opt = ap.parse_args()

    bw = read_copy(opt.copy)
    rows, work, meta = {}, {}, {}
    for path in opt.results:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("meta"):
                    meta[r["threads"]] = r
                elif r.get("workload"):
                    work[(r["threads"], r["id"])] = r
                else:
                    rows.setdefault((r["threads"], r["id"]), []).append(r)
    thread_counts = sorted(meta)
    ids = [w for w in IDS if any(k[1] == w for k in work)]
    ok = True

    m = meta[thread_counts[0]]
    target = m["halide_target"].replace("x86-64-linux-", "").replace("-jit", "")
    print(f"peers: SciPy {m['scipy']} (NumPy {m['numpy']}), OpenCV {m['opencv']} (IPP: "
          f"{m['opencv_ipp']}), Halide 14 JIT for the host ({target}), "
          "C loops from clang-19 -O3 -march=native with OpenMP")
    print()

    width = 34
    for w in ids:
        desc = work[(thread_counts[0], w)]["desc"]
        floor_bytes = work[(thread_counts[0], w)].get("floor_bytes")
        print(f"{w}: {desc}")
        floor = {}
        if floor_bytes:
            for t in thread_counts:
                if t in bw:
                    floor[t] = floor_bytes / (bw[t][0] * 1e9) * 1e3
            print(f"  memory floor: {floor_bytes / 1e6:.1f} MB read + written once, at the copy "
                  "bandwidth: " + ", ".join(f"{fmt_ms(floor[t])} ms at {plural(t)}"
                                            for t in thread_counts if t in floor))
        # One table, a column group per thread count, a row per implementation
        # in the order of the first process.
        names = [r["impl"] for r in rows.get((thread_counts[0], w), [])]
        head1 = f"  {'':{width}}"
        head2 = f"  {'implementation':{width}}"
        for t in thread_counts:
            group = f" {plural(t)} "
            cols = 25 + (9 if floor else 0)
            head1 += "  " + group.center(cols, "-")
            head2 += f"  {'ms':>10} {'ratio':>7} {'n':>6}" + (f" {'x floor':>8}" if floor else "")
        head2 += f"  {'max err':>8}"
        print(head1)
        print(head2)
        best = {}
        for t in thread_counts:
            peers = [r for r in rows.get((t, w), []) if r["kind"] == "peer"]
            if peers:
                best[t] = min(peers, key=lambda r: r["ms"])
        blank = " " * (2 + 10 + 1 + 7 + 1 + 6 + (9 if floor else 0))
        for name in names:
            line = f"  {name:{width}}"
            errs, same = [], False
            for t in thread_counts:
                r = next((x for x in rows.get((t, w), []) if x["impl"] == name), None)
                if r is None:
                    line += f"  {'missing':>10}" + blank[12:]
                    ok = False
                    continue
                if r.get("same_as_direct"):
                    same = True
                    line += blank
                    continue
                errs.append(r["err"])
                if r["kind"] == "convc" and t in best:
                    q = best[t]["ms"] / r["ms"]
                    ratio = f"{q:7.3f}" if q >= 0.01 else f"{q:7.2g}"
                elif t in best and r is best[t]:
                    ratio = f"{'best':>7}"
                else:
                    ratio = f"{'':7}"
                ms = fmt_ms(r["ms"]) + ("*" if r["single_thread"] and t > 1 else " ")
                line += f"  {ms:>10} {ratio} {r['samples']:>6}"
                if floor:
                    line += f" {r['ms'] / floor[t]:8.2f}" if t in floor else f" {'-':>8}"
            if same:
                line = f"  {name:{width}}  not timed: the same code as convc direct"
            else:
                worst = max(errs) if errs else float("inf")
                bad = not worst <= TOLERANCE
                ok = ok and not bad
                line += f"  {worst:8.1e}" + (" FAIL" if bad else "")
            print(line)
        # what each convc script compiled to, and the peers' schedules
        notes = {}
        for r in rows.get((thread_counts[0], w), []):
            if r.get("note"):
                notes[r["impl"]] = r["note"]
        for name, note in notes.items():
            print(f"    {name}: {note}")
        print()

    if opt.compile:
        with open(opt.compile) as f:
            comp = [json.loads(line) for line in f if line.strip()]
        comp = sorted((c for c in comp if c["id"] in ids and "compile_ms" in c),
                      key=lambda c: (IDS.index(c["id"]), c["script"]))
        if comp:
            print("compile time, ms (median of 3 runs of each command):")
            print(f"  {'script':26} {'convc compile':>13} {'convc run (JIT)':>15}")
            for c in comp:
                print(f"  {os.path.basename(c['script']):26} {c['compile_ms']:13.0f} "
                      f"{c['jit_ms']:15.0f}")
            print()

    print("ratio = best peer's time / this convc script's time in the same process "
          "(>= 1: convc is at least as fast); 'best' marks that peer")
    print("*: single-threaded whatever the thread count (SciPy); n = samples "
          "(1: one call, longer than 2 s)")
    print("x floor = time / memory floor (input read once + output written once at the "
          "measured copy bandwidth)")
    print("max err = max |result - float64 reference| / max |reference| over the thread counts "
          f"(limit {TOLERANCE:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
