#!/usr/bin/python3
"""Turn the benchmark's result lines into the report's tables.

    report.py --peak PEAK_FILE [--compile COMPILE_FILE] RESULTS.jsonl ...

RESULTS are the JSON lines of bench/bench.c (convc, convc built for
x86-64-v3 and oneDNN, "proc": "dnnl") and of bench/torch_peer.py (convc,
convc with load() weights, PyTorch NCHW and channels_last, "proc":
"torch"), for one or more thread counts.  PEAK_FILE is bench/peak.c's output ("peak BITS THREADS GFLOPS"
lines); COMPILE_FILE has one JSON line per workload with the compile times
measured by scripts/bench.sh.  bench/README.md explains every column.

A ratio is always taken between two implementations timed in the same
process from interleaved samples: oneDNN against the convc time measured
beside it in bench.c, PyTorch against the convc time measured beside it in
torch_peer.py.  The best peer is the one with the smallest such ratio.

Exit status 1 if a check failed or a result is missing.
"""
import argparse
import json
import sys

TOLERANCE = 1e-3
PEERS = ["oneDNN", "torch", "torch-cl"]
PEER_PROC = {"oneDNN": "dnnl", "torch": "torch", "torch-cl": "torch"}
ORDER = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W10", "W11"]
# The common single layers, which have no target: printed after the rows
# above in every table, under a heading line of their own.
LAYERS = ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9", "L10", "L11", "L12"]
LAYERS_HEADING = "common layers, no target:"


class Headings:
    """The common layers' heading in one table: before the first of them,
    after a blank line if rows of the other workloads precede it."""

    def __init__(self, indent=""):
        self.indent, self.shown, self.rows = indent, False, 0

    def lines(self, w):
        """The lines to print before w's row."""
        self.rows += 1
        if self.shown or w not in LAYERS:
            return []
        self.shown = True
        return [""] * (self.rows > 1) + [self.indent + LAYERS_HEADING]

    def print_before(self, w):
        for line in self.lines(w):
            print(line)


def read_peak(path):
    """{(bits, threads): GFLOP/s} and the widest width measured."""
    peak = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "peak":
                peak[(int(p[1]), int(p[2]))] = float(p[3])
    return peak, max(b for b, _ in peak)


def fmt_ms(ms):
    return "-" if ms is None else f"{ms:.3f}" if ms < 100 else f"{ms:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peak", required=True)
    ap.add_argument("--compile")
    ap.add_argument("results", nargs="+")
    opt = ap.parse_args()

    peak, widest = read_peak(opt.peak)
    # rec[(threads, proc, id, impl)] = result line
    rec, meta = {}, {}
    for path in opt.results:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("meta"):
                    meta[(r["threads"], r["proc"])] = r
                else:
                    rec[(r["threads"], r["proc"], r["id"], r["impl"])] = r
    ids = [w for w in ORDER + LAYERS if any(k[2] == w for k in rec)]
    thread_counts = sorted({k[0] for k in rec})
    ok = True

    for t in thread_counts:
        pk, pk256 = peak.get((widest, t)), peak.get((256, t))
        print(f"threads {t}: measured FMA peak {pk:.1f} GFLOP/s at {widest} bits, "
              f"{pk256:.1f} at 256 bits")
        print()
        print(f"{'':36} {'median time per call, ms':^44}   {'convc vs best peer':^18}   "
              f"{'convc':^12} {'best peer':^12}")
        print(f"{'id':4} {'workload':28} {'MFLOP':>6} {'convc':>8} {'oneDNN':>8} {'torch':>8} "
              f"{'torch-CL':>8}   {'best':8} {'ratio':>7}   {'GF/s':>5} {'%peak':>6} {'GF/s':>5} "
              f"{'%peak':>6}  {'max err':>7}  {'n':>7}")
        v3_rows, notes = [], []
        table, notes_heading = Headings(), Headings("  ")
        for w in ids:
            table.print_before(w)
            dn = rec.get((t, "dnnl", w, "convc"))
            tc = rec.get((t, "torch", w, "convc"))
            if not dn or not tc:
                print(f"{w:4} missing results ({'bench' if not dn else 'torch_peer'} did not finish)")
                ok = False
                continue
            mflop = dn["mflop"]
            times = {p: rec[(t, PEER_PROC[p], w, p)]["ms"] for p in PEERS}
            convc_ms = {"dnnl": dn["ms"], "torch": tc["ms"]}
            ratios = {p: times[p] / convc_ms[PEER_PROC[p]] for p in PEERS}
            best = min(PEERS, key=lambda p: ratios[p])
            errs = {**dn["checks"], **tc["checks"]}
            v3 = rec[(t, "dnnl", w, "convc-v3")]
            const = rec[(t, "torch", w, "convc-const")]
            sym = rec[(t, "torch", w, "convc-sym")]
            errs.update({"oneDNN (x86-64-v3)": v3["checks"]["oneDNN"],
                         "torch (load() weights)": const["checks"]["torch"],
                         "torch (symbolic sizes)": sym["checks"]["torch"]})
            worst = max(errs.values())
            if not worst <= TOLERANCE:
                ok = False
            gf = mflop / dn["ms"]
            gf_best = mflop / times[best]
            print(f"{w:4} {dn['desc']:28} {mflop:6.1f} {fmt_ms(dn['ms']):>8} "
                  f"{fmt_ms(times['oneDNN']):>8} {fmt_ms(times['torch']):>8} "
                  f"{fmt_ms(times['torch-cl']):>8}   {best.replace('torch-cl', 'torch-CL'):8} "
                  f"{ratios[best]:7.4f}   {gf:5.1f} {100 * gf / pk:5.1f}% {gf_best:5.1f} "
                  f"{100 * gf_best / pk:5.1f}%  {worst:7.1e}{' FAIL' if not worst <= TOLERANCE else ''}"
                  f"  {dn['samples']:>3}/{tc['samples']:<3}")
            v3_rows.append((w, dn, v3, times["oneDNN"], tc, const, sym))
            dnnl_note = rec[(t, "dnnl", w, "oneDNN")].get("note", "?")
            notes += notes_heading.lines(w)
            notes.append(f"  {w:4} oneDNN:   {dnnl_note}")
            notes.append(f"  {'':4} torch:    {rec[(t, 'torch', w, 'torch')].get('note', '?')}; "
                         f"channels_last: {rec[(t, 'torch', w, 'torch-cl')].get('note', '?')}")
            if not worst <= TOLERANCE:
                notes.append(f"  {'':4} FAIL: max relative error "
                             + ", ".join(f"{e:.2g} vs {p}" for p, e in errs.items()))

        print()
        print(f"other builds of the scripts: for x86-64-v3 (AVX2), against the measured 256-bit "
              f"peak ({pk256:.1f} GFLOP/s); native with the weights as load() constants; native "
              f"with x's height and width as size symbols")
        print(f"{'':34}{'--------------- x86-64-v3 ---------------':>43}   "
              f"{'------- load() weights -------':>30}   {'-- symbolic H, W --':>18}")
        print(f"{'id':4} {'workload':28} {'ms':>8} {'GF/s':>6} {'%peak256':>8} {'vs native':>9} "
              f"{'vs oneDNN':>9}   {'ms':>8} {'GF/s':>6} {'%peak':>6} {'vs native':>9}"
              f"   {'ms':>8} {'vs native':>9}")
        table = Headings()
        for w, dn, v3, dnnl_ms, tc, const, sym in v3_rows:
            table.print_before(w)
            gf = dn["mflop"] / v3["ms"]
            gf_c = dn["mflop"] / const["ms"]
            print(f"{w:4} {dn['desc']:28} {fmt_ms(v3['ms']):>8} {gf:6.1f} {100 * gf / pk256:7.1f}% "
                  f"{dn['ms'] / v3['ms']:9.3f} {dnnl_ms / v3['ms']:9.4f}   "
                  f"{fmt_ms(const['ms']):>8} {gf_c:6.1f} {100 * gf_c / pk:5.1f}% "
                  f"{const['native_ms'] / const['ms']:9.3f}   "
                  f"{fmt_ms(sym['ms']):>8} {sym['native_ms'] / sym['ms']:9.3f}")
        print()
        tm = meta.get((t, "torch"), {})
        print(f"implementations (PyTorch {tm.get('torch', '?')}, its oneDNN {tm.get('dnnl', '?')}, "
              f"ATen kernels built for {tm.get('capability', '?')}):")
        print("\n".join(notes))
        print()

    if opt.compile:
        print("compile time, ms (median of 3 runs of each command; run: convc run --no-cache, "
              "which compiles every time):")
        print(f"{'id':4} {'compile native':>14} {'compile v3':>10} {'run, 1 thread':>13} "
              f"{'run - 1 call':>12}")
        with open(opt.compile) as f:
            comp = {r["id"]: r for r in map(json.loads, f)}
        table = Headings()
        for w in ids:
            c = comp.get(w)
            if not c:
                continue
            table.print_before(w)
            one = rec.get((1, "dnnl", w, "convc"))
            jit = f"{c['run_ms'] - one['ms']:.0f}" if one else "-"
            print(f"{w:4} {c['compile_ms']:14.0f} {c['compile_v3_ms']:10.0f} {c['run_ms']:13.0f} "
                  f"{jit:>12}")
        print()

    print("ratio = best peer's time / convc's time, each pair timed in one process "
          "(>= 1: convc is at least as fast)")
    print("% peak = GFLOP/s / measured FMA peak for that thread count; max err = "
          "max |convc - peer| / max |peer| over all checks (limit 1e-3)")
    print("vs native = the native object's time / this build's time, from interleaved samples "
          "(above 1: this build is faster); the load() and symbolic builds give the native "
          "object's bits")
    print("n = interleaved samples per implementation in bench / torch_peer")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
