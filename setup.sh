#!/usr/bin/env bash
# ecocompute setup: installs every package the project uses (Debian + npm), builds, then
#   ./setup.sh run    builds the release preset and runs the main job on its embedded default
#                     (synthetic model, best device)
#   ./setup.sh test   builds the dev preset (CUDA for sm_90 only) and runs the whole test suite
#                     (ctest; what .ci/run calls)
#   ./setup.sh build  only installs and builds (the release preset)
# ECO_PRESET chooses another preset (cpu, debug-asan) for any action.
# Idempotent: packages already present are not reinstalled; the build is incremental.
set -euo pipefail
cd "$(dirname "$0")"

action="${1:-build}"
shift || true
default_preset=release
[ "$action" = test ] && default_preset=dev
preset="${ECO_PRESET:-$default_preset}"

# Debian packages, by name. Versions are Debian 12's (bookworm); apt pins them by release.
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ccache
  libcli11-dev nlohmann-json3-dev libfmt-dev libpcre2-dev libsqlite3-dev libtomlplusplus-dev
  libboost-math-dev libboost1.74-dev libutf8proc-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  chromium
)
# Node.js and npm: Debian's packages unless a node with npm is already installed (some images
# ship NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages (pinned in package-lock.json): test data and the dashboard build.
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: installing npm packages (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi

# The CUDA toolkit is optional: when present, the CUDA engine is compiled too.
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

jobs="${ECO_JOBS:-$(nproc)}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"

case "$action" in
  build) ;;
  run)
    exec "build/$preset/src/ecocompute" run "$@"
    ;;
  test)
    exec ctest --preset "$preset" -j "$jobs" "$@"
    ;;
  *)
    echo "usage: ./setup.sh [build|run|test] [args...]" >&2
    exit 64
    ;;
esac
