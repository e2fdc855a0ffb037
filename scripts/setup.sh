#!/usr/bin/env bash
# Install the Debian 12 packages convc needs to build and test, if any are missing.
# Idempotent: when everything is present it installs nothing and prints one line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  build-essential cmake ninja-build re2c bison libcriterion-dev
  llvm-19-dev clang-19 lld-19 libclang-rt-19-dev llvm-19-tools
  libpng-dev pkg-config python3-numpy python3-scipy valgrind libkissfft-dev
  python3-dev python3-dask
  libxxhash-dev
  libgraphviz-dev graphviz
  libsndfile1-dev libzip-dev python3-soundfile python3-pil sox
  # sndfile.pc names -lmp3lame for static links, which libsndfile1-dev
  # does not pull in
  libmp3lame-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
