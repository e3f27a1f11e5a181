#!/usr/bin/env bash
# The test suite as an ARM64 Linux program under QEMU's user-mode emulation, on an x86-64 Debian machine:
# the ARM64 JIT compiles every kernel, so the 128-bit paths run as AdvSimd code, as on Graviton, Ampere or
# Apple hardware. Emulated instructions say nothing about speed, only about results. Not part of .ci/run
# (the emulated Tensors namespace takes about 15 minutes on two cores).
#
#   bash .ci/arm64-emulated.sh                                   # the Tensors namespace
#   bash .ci/arm64-emulated.sh "FullyQualifiedName~MatMulTests"  # any MSTest filter
set -uo pipefail
cd "$(dirname "$0")/.."
filter="${1:-FullyQualifiedName~Modula.Tests.Tensors}"
sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null 2>&1 || [ ! -e "$sysroot/lib/libstdc++.so.6" ]; then
  echo "== installing qemu-user and the ARM64 C and C++ runtimes (Debian's cross packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user \
    libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross) >/dev/null 2>&1 \
    || { echo "could not install qemu-user and the ARM64 runtimes"; exit 1; }
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Self-contained: the ARM64 .NET runtime comes from NuGet (Microsoft.NETCore.App.Runtime.linux-arm64).
if ! dotnet publish Modula.Tests -c Release -r linux-arm64 --self-contained -o "$out" >"$out.publish.log" 2>&1; then
  tail -n 20 "$out.publish.log"
  echo "publish for linux-arm64 failed"
  exit 1
fi
export MODULA_DATA="${MODULA_DATA:-../shared/data}"
[ -d "$MODULA_DATA" ] && MODULA_DATA="$(cd "$MODULA_DATA" && pwd)"
# The ILGPU simulator's cases (the same kernels on a managed thread grid) would take hours emulated.
MODULA_TEST_SKIP_SIMULATOR=1 qemu-aarch64 -L "$sysroot" "$out/Modula.Tests" --filter "$filter"
