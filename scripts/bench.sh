#!/usr/bin/env bash
# Benchmark convc's generated code against established implementations of
# the same work, with 1 thread and with every online CPU, in two suites:
#
#   cnn      the CNN layers and blocks of bench/workloads/ (W1-W11, and the
#            common single layers L1-L12) against oneDNN and PyTorch, as
#            ratios, as GFLOP/s and as % of this machine's measured FMA peak;
#            also objects built for x86-64-v3, builds with the weights as
#            load() constants, and the compile time of every script
#   filters  the image and signal filters of bench/filters/ against SciPy,
#            OpenCV, Halide and plain C loops, as ratios and, for the 5x5
#            filters, as multiples of the memory floor; every method= variant
#            of a workload, and the compile time of each script
#
# Not part of the tests: run it on its own.
#
#   scripts/bench.sh [--suite cnn|filters|all] [--seconds S] [--only W1,L3,W8,...] [--threads N[,M...]]
#
#   --suite S     the suite to run: cnn, filters or all (default: all, cnn first)
#   --seconds S   timing budget per workload, thread count and process (default 1.5);
#                 every implementation gets at least 3 interleaved samples however
#                 slow, except in filters a call longer than 2 s, which is made once
#   --only LIST   run only these workloads (ids as in bench/README.md: W1-W13 and
#                 L1-L12; W9 is both W9 rows)
#   --threads L   thread counts to run (default: 1 and the number of online CPUs)
#
# Installs what is missing (scripts/setup.sh, then libdnnl-dev and
# python3-torch for cnn, python3-opencv, python3-halide and libomp-19-dev for
# filters), builds convc in build/ if needed, builds the harnesses in
# build-bench/, runs them and prints the report, also written to
# build-bench/latest.txt.  Exits 1 if a convc result differs from a peer's by
# more than 1e-3 relative to the peer's largest magnitude (cnn), or any
# result from the float64 reference by more than 1e-4 (filters).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage="usage: scripts/bench.sh [--suite cnn|filters|all] [--seconds S] [--only W1,L3,W8,...] [--threads N[,M...]]"
suite=all
seconds=1.5
only=""
thread_list=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --suite) suite="${2:?$usage}"; shift 2 ;;
    --seconds) seconds="${2:?$usage}"; shift 2 ;;
    --only) only="${2:?$usage}"; shift 2 ;;
    --threads) thread_list="${2:?$usage}"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$suite" in
  cnn|filters|all) ;;
  *) echo "bench: unknown suite '$suite' (cnn, filters or all)" >&2; exit 2 ;;
esac
ncpu=$(nproc)
if [[ -z "$thread_list" ]]; then
  thread_list=1
  [[ "$ncpu" != 1 ]] && thread_list+=",$ncpu"
fi
IFS=, read -r -a thread_counts <<<"$thread_list"
for t in "${thread_counts[@]}"; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || { echo "bench: bad thread count '$t'" >&2; exit 2; }
done
# The Python peers are used through Debian's own Python, which has their
# packages even when another python3 comes first on PATH.
python=/usr/bin/python3

# The suites to run, and each one's share of --only.  A suite none of whose
# workloads is wanted does not run.
run_cnn=0 run_filters=0
[[ "$suite" != filters ]] && run_cnn=1
[[ "$suite" != cnn ]] && run_filters=1
cnn_only="" filters_only=""
if [[ -n "$only" ]]; then
  cnn_ids=$(for f in bench/workloads/*.conv; do b=$(basename "$f"); b=${b%%_*}; echo "${b^^}"; done)
  filters_ids=$(head -q -n 1 bench/filters/*.conv | sed -n 's/^# *\([A-Za-z0-9-]*\):.*/\1/p' |
                awk '!seen[$0]++' | xargs)
  # W9-15 is also selected by its stem, W9
  filters_known=$(for w in $filters_ids; do echo "${w^^}"; w=${w%%-*}; echo "${w^^}"; done | sort -u)
  known=""
  [[ $run_cnn == 1 ]] && known+=" "$cnn_ids
  [[ $run_filters == 1 ]] && known+=" $filters_ids"
  IFS=, read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    found=0
    if [[ $run_cnn == 1 ]] && grep -qx "${w^^}" <<<"$cnn_ids"; then
      cnn_only+="${cnn_only:+,}$w" found=1
    fi
    if [[ $run_filters == 1 ]] && grep -qx "${w^^}" <<<"$filters_known"; then
      filters_only+="${filters_only:+,}$w" found=1
    fi
    [[ $found == 1 ]] || { echo "bench: no workload '$w' (one of"$known")" >&2; exit 2; }
  done
  [[ -n "$cnn_only" ]] || run_cnn=0
  [[ -n "$filters_only" ]] || run_filters=0
fi

# ---------------------------------------------------------------- packages
scripts/setup.sh

# The peers: oneDNN and PyTorch for cnn; OpenCV, Halide and LLVM's OpenMP
# runtime (the C loops are built with clang-19) for filters.
bench_packages=()
[[ $run_cnn == 1 ]] && bench_packages+=(libdnnl-dev python3-torch)
[[ $run_filters == 1 ]] && bench_packages+=(python3-opencv python3-halide libomp-19-dev)
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
rtdir=build/runtime

out=build-bench
mkdir -p "$out"
CC=${CC:-cc}
# Milliseconds since the epoch, with microseconds, from bash itself (no fork
# in the measured interval).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; printf '%d.%03d\n' $((t / 1000)) $((t % 1000)); }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
# A comma-separated list contains an id (case-insensitive); an empty list
# contains every id.
in_list() { [[ -z "$1" ]] || [[ ",${1^^}," == *",${2^^},"* ]]; }

# ------------------------------------------------- cnn: workloads, harness
# Workload id from a script's name: w10_resnet_... -> W10.
id_of() { local b; b=$(basename "$1" .conv); b=${b%%_*}; echo "${b^^}"; }
cnn_build() {
  obj=$out/obj
  data=$out/data
  rm -rf "$obj" "$data" "$out"/*.jsonl
  mkdir -p "$obj" "$data"

  # The entry point of each object is named after its pipeline, so the
  # x86-64-v3 build of the same script is renamed NAME_v3 to link beside it.
  # Selected scripts are compiled three times per target; the median wall
  # time is their compile time (parse, check, lowering, LLVM -O3 and code
  # generation, plus writing the object and header).
  compile_times=$out/compile.jsonl
  : > "$compile_times"
  scripts=(bench/workloads/*.conv)
  for script in "${scripts[@]}"; do
    name=$(basename "$script" .conv)
    id=$(id_of "$script")
    sed -E 's/^(pipeline +)([A-Za-z_][A-Za-z0-9_]*)/\1\2_v3/' "$script" > "$obj/${name}_v3.conv"
    reps=1
    in_list "$cnn_only" "$id" && reps=3
    native_ms=() v3_ms=()
    for ((r = 0; r < reps; r++)); do
      t0=$(now_ms)
      "$convc" compile "$script" -o "$obj/$name.o" --target-cpu=native
      t1=$(now_ms)
      "$convc" compile "$obj/${name}_v3.conv" -o "$obj/${name}_v3.o" --target-cpu=x86-64-v3
      t2=$(now_ms)
      native_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
      v3_ms+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
    done
    if in_list "$cnn_only" "$id"; then
      printf '{"id": "%s", "compile_ms": %s, "compile_v3_ms": %s' "$id" \
        "$(median3 "${native_ms[@]}")" "$(median3 "${v3_ms[@]}")" >> "$compile_times"
      printf ', "script": "%s"}\n' "$script" >> "$compile_times"
    fi
  done
  native_objs=() v3_objs=()
  for script in "${scripts[@]}"; do
    name=$(basename "$script" .conv)
    native_objs+=("$obj/$name.o")
    v3_objs+=("$obj/${name}_v3.o")
  done

  "$CC" -O2 -march=native -Wall -Wextra -pthread bench/peak.c -o "$out/peak"
  "$CC" -O2 -march=native -Wall -Wextra -fopenmp -I"$obj" -Iruntime/include bench/bench.c \
    "${native_objs[@]}" "${v3_objs[@]}" "$rtdir/libconvrt.a" -ldnnl $(pkg-config --libs libpng sndfile libzip) -lkissfft-float \
    -lz -lm -lpthread -o "$out/bench"

  # A third build of each script takes its weights and biases from load(),
  # as constants of the object, so the cost of handling runtime weights
  # shows.  The harness writes the inputs first; the copy of the script sits
  # beside them so that load("w1.npy") finds them, renamed NAME_const.
  "$out/bench" --threads 1 --data "$data" --inputs-only
  const_objs=()
  for script in "${scripts[@]}"; do
    name=$(basename "$script" .conv)
    id=$(id_of "$script")
    sed -E -e 's/^(pipeline +)([A-Za-z_][A-Za-z0-9_]*)/\1\2_const/' \
      -e 's/^( *)input +([wb][0-9]+) *: *(f32\[[^]]*\])/\1const \2: \3 = load("\2.npy")/' \
      "$script" > "$data/$id/${name}_const.conv"
    "$convc" compile "$data/$id/${name}_const.conv" -o "$obj/${name}_const.o" --target-cpu=native
    const_objs+=("$obj/${name}_const.o")
    # and a fourth declares the input's height and width as size symbols,
    # NAME_sym: one object for every image size, as an application built
    # ahead of time would use it
    sed -E -e 's/^(pipeline +)([A-Za-z_][A-Za-z0-9_]*)/\1\2_sym/' \
      -e 's/^( *input +x *: *f32\[[^],]+, *[^],]+, *)[0-9]+, *[0-9]+\]/\1H, W]/' \
      "$script" > "$obj/${name}_sym.conv"
    grep -q 'input x: f32\[.*H, W\]' "$obj/${name}_sym.conv" ||
      { echo "bench.sh: no [N, C, H, W] input x in $script" >&2; exit 1; }
    "$convc" compile "$obj/${name}_sym.conv" -o "$obj/${name}_sym.o" --target-cpu=native
    const_objs+=("$obj/${name}_sym.o")
  done
  # The native objects (runtime weights, load() weights, symbolic sizes)
  # in a shared library for the PyTorch process.
  "$CC" -shared -o "$out/libworkloads.so" "${native_objs[@]}" "${const_objs[@]}" -L"$rtdir" \
    -lconvrt -Wl,-rpath,"$PWD/$rtdir"
}

# --------------------------------------------- filters: scripts, harness
fout=$out/filters
filters_build() {
  local fobj=$fout/obj
  rm -rf "$fobj" "$fout/data" "$fout"/*.jsonl "$fout"/*.txt
  mkdir -p "$fobj" "$fout/data"

  # Inputs of one element per dim, for timing the JIT below.
  "$python" -c 'import sys, numpy as np
for r in range(1, 5):
    np.save(f"{sys.argv[1]}/one{r}.npy", np.zeros([1] * r, np.float32))' "$fobj"

  # Every script, whether its workload is selected or not, goes into the
  # library (the harness finds a workload's scripts by the id on their
  # first line).  The manifest records what the harness and the report need:
  # the id, the pipeline, the schedule convc chose for its stage (the last
  # block of --dump=schedule, without the stage's name) and, for the
  # selected workloads, the median of 3 wall times of
  #  - `convc compile --target-cpu=native` (parse, check, lowering, LLVM -O3,
  #    code generation, writing the object and header), and
  #  - `convc run` on inputs of one element per dim: convc compiles the
  #    script in memory, then the entry point's argument check rejects the
  #    inputs before computing anything, so the time is the process start,
  #    reading the inputs and the whole JIT compilation, without a call that
  #    would take up to a minute for the direct scripts of long kernels.
  filters_manifest=$fout/scripts.jsonl
  : > "$filters_manifest"
  filters_objs=()
  local script id name schedule reps run_args compile_ms jit_ms
  for script in bench/filters/*.conv; do
    id=$(sed -n '1s/^# *\([A-Za-z0-9-]*\):.*/\1/p' "$script")
    name=$(sed -n 's/^pipeline \+\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$script")
    schedule=$("$convc" check "$script" --dump=schedule | awk '
      /^schedule after/ {blk = ""; n = 0; inblk = 1; next}
      inblk && /^  / {sub(/^ +[^ ]+ +/, ""); gsub(/ +/, " "); blk = blk (n++ ? "; " : "") $0; next}
      {inblk = 0}
      END {print blk}')
    run_args=()
    while read -r input rank; do
      run_args+=("$input=$fobj/one$rank.npy")
    done < <(sed -n 's/^ *input \+\([A-Za-z_][A-Za-z0-9_]*\) *: *f32\[\([^]]*\)\].*/\1 \2/p' "$script" |
             awk '{print $1, split($0, d, ",")}')
    reps=0
    in_list "$filters_only" "$id" && reps=3
    compile_ms=() jit_ms=()
    "$convc" compile "$script" -o "$fobj/$name.o" --target-cpu=native
    for ((r = 0; r < reps; r++)); do
      t0=$(now_ms)
      "$convc" compile "$script" -o "$fobj/$name.o" --target-cpu=native
      t1=$(now_ms)
      if "$convc" run "$script" --threads=1 "${run_args[@]}" 2> "$fout/run.err" ||
         ! grep -q "but the pipeline declares" "$fout/run.err"; then
        echo "bench: convc run $script did not stop at the argument check:" >&2
        cat "$fout/run.err" >&2
        exit 1
      fi
      t2=$(now_ms)
      compile_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
      jit_ms+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
    done
    filters_objs+=("$fobj/$name.o")
    printf '{"id": "%s", "script": "%s", "name": "%s", "schedule": "%s"' \
      "$id" "$script" "$name" "${schedule//\"/}" >> "$filters_manifest"
    if ((reps > 0)); then
      printf ', "compile_ms": %s, "jit_ms": %s' \
        "$(median3 "${compile_ms[@]}")" "$(median3 "${jit_ms[@]}")" >> "$filters_manifest"
    fi
    printf '}\n' >> "$filters_manifest"
  done
  "$CC" -shared -o "$fout/libfilters.so" "${filters_objs[@]}" -L"$rtdir" -lconvrt \
    -Wl,-rpath,"$PWD/$rtdir"
  # The plain C loops: clang-19 with its own OpenMP runtime (libomp-19-dev).
  clang-19 -O3 -march=native -fopenmp -fPIC -shared -Wall -Wextra bench/filters_loops.c \
    -o "$fout/libloops.so" -Wl,-rpath,/usr/lib/llvm-19/lib
  # -O3: the copy loop must be vectorised
  "$CC" -O3 -march=native -Wall -Wextra -pthread bench/copybw.c -o "$fout/copybw"
}

[[ $run_cnn == 1 ]] && cnn_build
[[ $run_filters == 1 ]] && filters_build

# ------------------------------------------------------------------- run
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
llc=$(lscpu | sed -n 's/^L3 cache: *//p' | head -1)

say "convc benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
say "machine: $cpu_model, $ncpu online CPUs ($threads_per_core thread(s) per core${hyper:+, $hyper guest}), cpu MHz ${cpu_mhz:-unknown}${llc:+, L3 $llc}"
say "SIMD flags: ${simd:-none of avx2/fma/avx512}"
# Other work on the machine shows in the times; say how busy it was.
load_start=$(cut -d' ' -f1 /proc/loadavg)
say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
status=0

cnn_run() {
  local dnnl_version torch_version native_cpu
  dnnl_version=$(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?')
  torch_version=$(dpkg-query -W -f='${Version}' python3-torch 2>/dev/null || echo '?')
  native_cpu=$(sed -n 's/.*for the CPU \([^.]*\)\..*/\1/p' "$obj/$(basename "${scripts[0]}" .conv).h")
  say ""
  say "=== cnn: CNN layers (bench/workloads/) against oneDNN and PyTorch"
  say "convc: $($convc --version | head -1), objects for --target-cpu=native ($native_cpu) and x86-64-v3"
  say "peers: oneDNN (libdnnl-dev) $dnnl_version, C API; PyTorch (python3-torch) $torch_version, $($python --version)"
  say "harness: $("$CC" --version | head -1); ~$seconds s of interleaved samples per workload, thread count and process"

  # Peak: best of 3 runs of 0.3 s per width and thread count, measured here
  # and again after the workloads; the report uses the better of the two, as
  # a busy machine can only make a measured peak lower.
  "$out/peak" 0.3 > "$out/peak-before.txt"

  # Each thread count and each process on its own: the environment gives
  # OpenMP (oneDNN, PyTorch) and convrt their thread count from the start.
  # OMP_WAIT_POLICY=passive, as for the filters below: samples alternate in
  # one process, and OpenMP threads spinning after a oneDNN call would take
  # the cores from the convc call that follows.
  results=()
  only_args=()
  [[ -n "$cnn_only" ]] && only_args=(--only "$cnn_only")
  for t in "${thread_counts[@]}"; do
    if ! OMP_NUM_THREADS=$t OMP_WAIT_POLICY=passive CONVRT_NUM_THREADS=$t "$out/bench" --threads "$t" --seconds "$seconds" \
          --data "$data" "${only_args[@]}" > "$out/dnnl-t$t.jsonl"; then
      status=1
    fi
    if ! OMP_NUM_THREADS=$t OMP_WAIT_POLICY=passive CONVRT_NUM_THREADS=$t "$python" bench/torch_peer.py --threads "$t" \
          --seconds "$seconds" --lib "$out/libworkloads.so" --data "$data" "${only_args[@]}" \
          > "$out/torch-t$t.jsonl"; then
      status=1
    fi
    results+=("$out/dnnl-t$t.jsonl" "$out/torch-t$t.jsonl")
  done

  # `convc run --no-cache` end to end on the inputs just used, with 1
  # thread: process start, reading the .npy files, the whole JIT compilation
  # (never a cache hit) and one call.  The report subtracts the call (the
  # 1-thread time of the native object, which is the same code) to estimate
  # what `convc run` spends before computing.
  run_times=$out/compile-run.jsonl
  : > "$run_times"
  while IFS= read -r line; do
    id=$(sed -n 's/.*"id": "\([^"]*\)".*/\1/p' <<<"$line")
    script=$(sed -n 's/.*"script": "\([^"]*\)".*/\1/p' <<<"$line")
    run_args=()
    for a in $(cat "$data/$id/args"); do
      run_args+=("$a=$data/$id/$a.npy")
    done
    run_ms=()
    for r in 1 2 3; do
      t0=$(now_ms)
      if ! "$convc" run "$script" --no-cache --threads=1 "${run_args[@]}" 2> "$out/run.err"; then
        cat "$out/run.err" >&2
        status=1
      fi
      t1=$(now_ms)
      run_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
    done
    printf '%s, "run_ms": %s}\n' "${line%\}}" "$(median3 "${run_ms[@]}")" >> "$run_times"
  done < "$compile_times"

  "$out/peak" 0.3 > "$out/peak-after.txt"
  peak_file="$out/peak.txt"
  awk '$1 == "peak" {k = $2 " " $3; if (!(k in best) || $4 > best[k]) best[k] = $4}
       END {for (k in best) print "peak", k, best[k]}' "$out/peak-before.txt" "$out/peak-after.txt" \
    | sort -k2,2nr -k3,3n > "$peak_file"
  peak_of() { awk -v b="$1" -v t="$2" '$1 == "peak" && $2 == b && $3 == t {print $4}' "$3"; }
  widest=$(awk '$1 == "peak" {print $2; exit}' "$peak_file")
  lanes=$((widest / 32))
  say ""
  say "measured FMA peak (bench/peak.c, 16 independent accumulators, GFLOP/s), before / after the"
  say "workloads; % of peak below uses the better of the two:"
  for t in 1 "$ncpu"; do
    line="  $t thread(s):"
    for b in $(awk '$1 == "peak" {print $2}' "$peak_file" | sort -rnu); do
      line+="  ${b}-bit $(peak_of "$b" "$t" "$out/peak-before.txt") / $(peak_of "$b" "$t" "$out/peak-after.txt")"
    done
    say "$line"
    [[ "$ncpu" == 1 ]] && break
  done
  p1=$(peak_of "$widest" 1 "$peak_file")
  if [[ -n "$cpu_mhz" ]]; then
    # FMA units per core are not in /proc/cpuinfo: infer them from the
    # measured one-thread figure at the reported clock (turbo can only raise
    # it, so floor).
    units=$(awk -v p="$p1" -v l="$lanes" -v f="$cpu_mhz" 'BEGIN {u = int(p * 1000 / (l * 2 * f)); print (u < 1 ? 1 : u)}')
    nominal=$(awk -v c="$ncpu" -v u="$units" -v l="$lanes" -v f="$cpu_mhz" 'BEGIN {printf "%.1f", c * u * l * 2 * f / 1000}')
    eff_ghz=$(awk -v p="$p1" -v u="$units" -v l="$lanes" 'BEGIN {printf "%.2f", p / (u * l * 2)}')
    say "  nominal: $ncpu cores x $units FMA units (inferred) x $lanes lanes x 2 x $cpu_mhz MHz = $nominal GFLOP/s"
    say "  (the measured 1-thread figure implies ${eff_ghz} GHz with $units units; % of peak below uses the measured figures)"
  fi
  say ""

  compile_arg=()
  [[ -n "$(cat "$run_times")" ]] && compile_arg=(--compile "$run_times")
  if ! "$python" bench/report.py --peak "$peak_file" "${compile_arg[@]}" "${results[@]}" | tee -a "$report"; then
    status=1
  fi
}

filters_run() {
  local native_cpu headers=("$fout"/obj/*.h) t
  native_cpu=$(sed -n 's/.*for the CPU \([^.]*\)\..*/\1/p' "${headers[0]}")
  say ""
  say "=== filters: image and signal filters (bench/filters/) against SciPy, OpenCV, Halide and C loops"
  say "convc: $($convc --version | head -1), objects for --target-cpu=native ($native_cpu), called through ctypes"
  say "harness: bench/filters.py, $($python --version); ~$seconds s of interleaved samples per workload,"
  say "         thread count and process; C loops: $(clang-19 --version | head -1)"

  # Copy bandwidth for the memory floor, like the peak: best of 3 runs of
  # 0.3 s per thread count, before and after the workloads.
  "$fout/copybw" 0.3 > "$fout/copy-before.txt"

  # One process per thread count; the environment gives convrt, OpenMP (the
  # C loops) and Halide their thread count from the start, and the harness
  # sets OpenCV's.  OMP_WAIT_POLICY=passive: the implementations share one
  # process and are sampled in turn, and OpenMP's threads otherwise spin for
  # a while after each C loop, taking the cores from whichever implementation
  # runs next (on two cores that made convc's W8 at 2 threads 7.7 ms instead
  # of 5.3).
  local results=() only_args=()
  [[ -n "$filters_only" ]] && only_args=(--only "$filters_only")
  for t in "${thread_counts[@]}"; do
    if ! CONVRT_NUM_THREADS=$t OMP_NUM_THREADS=$t OMP_WAIT_POLICY=passive HL_NUM_THREADS=$t "$python" bench/filters.py \
          --threads "$t" --seconds "$seconds" --lib "$fout/libfilters.so" \
          --loops "$fout/libloops.so" --manifest "$filters_manifest" --data "$fout/data" \
          "${only_args[@]}" > "$fout/filters-t$t.jsonl"; then
      status=1
    fi
    results+=("$fout/filters-t$t.jsonl")
  done

  "$fout/copybw" 0.3 > "$fout/copy-after.txt"
  awk '$1 == "copy" {if (!($2 in best) || $3 > best[$2]) {best[$2] = $3; mib[$2] = $4}}
       END {for (t in best) print "copy", t, best[t], mib[t]}' \
    "$fout/copy-before.txt" "$fout/copy-after.txt" | sort -k2,2n > "$fout/copy.txt"
  say ""
  say "copy bandwidth (bench/copybw.c: dst = s * src, read + written, GB/s), before / after the"
  say "workloads; the memory floor below uses the better of the two:"
  for t in $(awk '{print $2}' "$fout/copy.txt"); do
    say "  $t thread(s): $(awk -v t="$t" '$2 == t {print $3}' "$fout/copy-before.txt") / $(awk -v t="$t" '$2 == t {print $3}' "$fout/copy-after.txt")"
  done
  say ""
  if ! "$python" bench/filters_report.py --copy "$fout/copy.txt" --compile "$filters_manifest" \
        "${results[@]}" | tee -a "$report"; then
    status=1
  fi
}

[[ $run_cnn == 1 ]] && cnn_run
[[ $run_filters == 1 ]] && filters_run

say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="$load_start" -v n="$ncpu" 'BEGIN {exit !(l >= n)}'; then
  # A parallel region (OpenMP's static schedule, TBB, Halide's pool) waits
  # for its slowest thread, so a busy core slows the peers' multi-thread
  # runs far more than convrt's.
  measured=()
  [[ $run_cnn == 1 ]] && measured+=("the FMA peak")
  [[ $run_filters == 1 ]] && measured+=("the copy bandwidth")
  say "warning: the machine was busy (load average $load_start at the start on $ncpu CPUs): times are"
  say "         inflated, $(printf '%s' "${measured[0]}"; [[ ${#measured[@]} -gt 1 ]] && printf ' and %s' "${measured[1]}") deflated, and multi-thread"
  say "         ratios against the peers' parallel loops flatter convc"
fi
[[ $status -ne 0 ]] && say "bench: FAILED (see the messages above)"
say "written to $report"
exit $status
