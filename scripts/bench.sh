#!/usr/bin/env bash
# Benchmark convc's generated code against oneDNN on the layers in bench/layers/,
# with 1 thread and with every online CPU, as ratios and as % of this machine's
# measured FMA peak.  Not part of the tests: run it on its own.
#
#   scripts/bench.sh [--seconds S]    # S: timing budget per layer and thread count (default 1.5)
#
# Installs what is missing (scripts/setup.sh, then libdnnl-dev), builds convc in
# build/ if needed, builds the harness in build-bench/, runs it and prints the
# table, also written to build-bench/latest.txt.  Exits 1 if convc's output
# differs from oneDNN's (or from the reference, for the image layer) by more
# than 1e-3 relative to the output's largest magnitude.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=1.5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--seconds S]" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- packages
scripts/setup.sh

bench_packages=(libdnnl-dev)
missing=()
for p in "${bench_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "bench: all ${#bench_packages[@]} benchmark packages are installed"
else
  echo "bench: installing ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "bench: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update
  "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------- convc
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build
convc=build/convc
rtlib=build/runtime/libconvrt.a

# ----------------------------------------------------------------- harness
out=build-bench
mkdir -p "$out"
CC=${CC:-cc}
for script in bench/layers/*.conv; do
  name=$(basename "$script" .conv)
  "$convc" compile "$script" -o "$out/$name.o" --target-cpu=native
done
"$CC" -O2 -march=native -Wall -Wextra -pthread bench/peak.c -o "$out/peak"
"$CC" -O2 -march=native -Wall -Wextra -fopenmp -I"$out" -Iruntime/include bench/bench.c \
  "$out"/*.o "$rtlib" -ldnnl $(pkg-config --libs libpng) -lz -lm -lpthread -o "$out/bench"

# ------------------------------------------------------------------- run
ncpu=$(nproc)
report="$out/latest.txt"
: > "$report"
say() { printf '%s\n' "$*" | tee -a "$report"; }

cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cpu_mhz=$(awk -F: '/^cpu MHz/ {gsub(/ /, "", $2); print $2; exit}' /proc/cpuinfo)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
simd=""
for f in avx512f avx512vl avx512_bf16 amx_tile avx2 fma; do
  [[ " $flags " == *" $f "* ]] && simd+="$f "
done
hyper=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)
threads_per_core=$(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1)
dnnl_version=$(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?')

say "convc benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
say "machine: $cpu_model, $ncpu online CPUs ($threads_per_core thread(s) per core${hyper:+, $hyper guest}), cpu MHz ${cpu_mhz:-unknown}"
say "SIMD flags: ${simd:-none of avx2/fma/avx512}"
say "compilers: $($convc --version | head -1) --target-cpu=native; $("$CC" --version | head -1); oneDNN (libdnnl-dev) $dnnl_version"

# Peak: best of 3 runs of 0.3 s per width and thread count.
peak_out=$("$out/peak" 0.3)
peak_of() { awk -v b="$1" -v t="$2" '$1 == "peak" && $2 == b && $3 == t {print $4}' <<<"$peak_out"; }
widest=$(awk '$1 == "peak" {print $2; exit}' <<<"$peak_out")
lanes=$((widest / 32))
say ""
say "measured FMA peak (bench/peak.c, 16 independent accumulators, GFLOP/s):"
for t in 1 "$ncpu"; do
  line="  $t thread(s):"
  for b in $(awk '$1 == "peak" {print $2}' <<<"$peak_out" | sort -rnu); do
    line+=" ${b}-bit $(peak_of "$b" "$t")"
  done
  say "$line"
  [[ "$ncpu" == 1 ]] && break
done
p1=$(peak_of "$widest" 1)
if [[ -n "$cpu_mhz" ]]; then
  # FMA units per core are not in /proc/cpuinfo: infer them from the measured
  # one-thread figure at the reported clock (turbo can only raise it, so floor).
  units=$(awk -v p="$p1" -v l="$lanes" -v f="$cpu_mhz" 'BEGIN {u = int(p * 1000 / (l * 2 * f)); print (u < 1 ? 1 : u)}')
  nominal=$(awk -v c="$ncpu" -v u="$units" -v l="$lanes" -v f="$cpu_mhz" 'BEGIN {printf "%.1f", c * u * l * 2 * f / 1000}')
  eff_ghz=$(awk -v p="$p1" -v u="$units" -v l="$lanes" 'BEGIN {printf "%.2f", p / (u * l * 2)}')
  say "  nominal: $ncpu cores x $units FMA units (inferred) x $lanes lanes x 2 x $cpu_mhz MHz = $nominal GFLOP/s"
  say "  (the measured 1-thread figure implies ${eff_ghz} GHz with $units units; % of peak below uses the measured figures)"
fi
say ""

status=0
for t in 1 "$ncpu"; do
  peak=$(peak_of "$widest" "$t")
  if ! OMP_NUM_THREADS=$t CONVRT_NUM_THREADS=$t "$out/bench" --threads "$t" --peak "$peak" \
        --seconds "$seconds" | tee -a "$report"; then
    status=1
  fi
  [[ "$ncpu" == 1 ]] && break
done

say "ratio = oneDNN time / convc time (above 1: convc is faster); % peak = GFLOP/s / measured peak for that thread count"
say "written to $report"
exit $status
