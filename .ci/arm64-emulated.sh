#!/usr/bin/env bash
# The test suite as an ARM64 Linux program under QEMU's user-mode emulation, on an x86-64 Debian machine:
# the ARM64 JIT compiles every kernel, so the 128-bit paths run as AdvSimd code, as on Graviton, Ampere or
# Apple hardware. Emulated instructions say nothing about speed, only about results. Not part of .ci/run
# (the Tensors namespace takes about 3 minutes on two cores, after a first publish that fetches the ARM64
# runtime pack from NuGet). It builds into the work tree's bin/ and obj/: do not run it beside .ci/run.
#
#   bash .ci/arm64-emulated.sh                                   # the Tensors namespace
#   bash .ci/arm64-emulated.sh "FullyQualifiedName~MatMulTests"  # any MSTest filter, then any runner options
#
# Exit status: the test runner's (8 when the filter matches no test); 139 or 134 if QEMU itself stops on a
# signal ("qemu: uncaught target signal 11"), as it did now and then before the W^X setting below.
set -uo pipefail
# A relative MODULA_DATA means the caller's directory, so resolve it before leaving it.
if [ -n "${MODULA_DATA:-}" ] && [ -d "$MODULA_DATA" ]; then MODULA_DATA="$(cd "$MODULA_DATA" && pwd)"; fi
cd "$(dirname "$0")/.." || exit 1
filter="${1:-FullyQualifiedName~Modula.Tests.Tensors}"
sysroot=/usr/aarch64-linux-gnu
packages=(qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)
if ! command -v qemu-aarch64 >/dev/null 2>&1 || [ ! -e "$sysroot/lib/libstdc++.so.6" ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "needs qemu-aarch64 and the ARM64 C and C++ runtimes: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
  echo "== installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; } >/dev/null; then
    echo "could not install ${packages[*]}" >&2
    exit 1
  fi
fi
work="$(mktemp -d)" || exit 1
trap 'rm -rf "$work"' EXIT
# Self-contained: the ARM64 .NET runtime comes from NuGet (Microsoft.NETCore.App.Runtime.linux-arm64).
if ! dotnet publish Modula.Tests -c Release -r linux-arm64 --self-contained -o "$work/tests" \
  >"$work/publish.log" 2>&1; then
  tail -n 20 "$work/publish.log" >&2
  echo "publish for linux-arm64 failed" >&2
  exit 1
fi
# For filters that reach the tests reading the shared data (the default does not).
if [ -z "${MODULA_DATA:-}" ] && [ -d ../shared/data ]; then MODULA_DATA="$(cd ../shared/data && pwd)"; fi
[ -n "${MODULA_DATA:-}" ] && export MODULA_DATA
# The ILGPU simulator's cases (the same kernels on a managed thread grid) would take hours emulated. The
# runtime writes code through a second, writable mapping of its executable memory (W^X), which QEMU's
# translation cache does not see: code written there after it first ran (reflection stubs, rejitted
# methods) could execute stale, as null-reference faults and segmentation faults; one mapping avoids it.
export DOTNET_EnableWriteXorExecute=0 MODULA_TEST_SKIP_SIMULATOR=1
qemu-aarch64 -L "$sysroot" "$work/tests/Modula.Tests" --filter "$filter" "${@:2}"
