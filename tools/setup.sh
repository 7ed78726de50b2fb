#!/usr/bin/env bash
# Installs the Debian 12 packages dreamforge needs to build, test and run.
# Idempotent: only missing packages are installed; nothing is done when all are present.
#
#   tools/setup.sh           install what is missing (as root, or via passwordless sudo)
#   tools/setup.sh --check   only report what is missing (exit 1 if anything is)
#   tools/setup.sh --edge    also the aarch64 cross toolchain and qemu-user (edge build)
set -euo pipefail

usage() {
  sed -n '2,7s/^# \{0,1\}//p' "$0"
}

check_only=0
edge=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --edge) edge=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache
  # fuzzing (preset fuzz, tools/fuzz.sh): clang 14 and its runtimes (libFuzzer, ASan, UBSan)
  clang-14 libclang-rt-14-dev
  # simulation, kinematics, data
  libbullet-dev libbullet-extras-dev libeigen3-dev libhdf5-dev zlib1g-dev
  liburdfdom-dev libtinyxml-dev libconsole-bridge-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev
  # teleoperation: the spacemouse device (libspnav; without it only that device is missing)
  libspnav-dev
  # tests and benchmarks; strace kills a writer just before one of its renames (syscall
  # fault injection) in the killed-writer tests
  libgtest-dev libgmock-dev libbenchmark-dev strace
  # policy learning, images and video (OpenCV; its FFmpeg backend writes the MP4s)
  libtorch-dev libopencv-dev
  # training on several processes: Gloo's headers for LibTorch's c10d process group, and
  # Open MPI's mpirun, which tests launch dreams and training with
  libgloo-dev openmpi-bin
  # headless rendering (render/): EGL and OpenGL headers and dispatch libraries, Mesa's EGL
  # (surfaceless platform) and its software rasterizer llvmpipe (no GPU, no display needed)
  libegl-dev libgl-dev libopengl-dev libegl-mesa0 libgl1-mesa-dri
  # Debian's LibTorch links the generic libblas.so.3; installing the OpenBLAS (OpenMP)
  # variant switches that alternative to OpenBLAS, which makes training about 8x faster
  # than with the reference BLAS.
  libopenblas0-openmp
  # Python side: reading episodes with h5py, PyTorch comparison and TorchScript checks
  python3 python3-h5py python3-numpy python3-torch
  # the scene view of record and play: tests drive the terminal view in tmux, and the
  # window view (OpenCV HighGUI, Qt) under a virtual X server, screenshot by ImageMagick
  # and closed as a window manager would (python3-xlib)
  tmux xvfb imagemagick python3-xlib
  # report test: renders the HTML report headless (screenshot, DOM, console errors); a
  # font so its text renders without the recommended packages
  chromium fonts-dejavu-core
)
# ONNX Runtime for checking exported policies comes from npm (onnxruntime-node ships its
# CPU binary); Node.js from Debian when no node is installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
if (( edge )); then
  # aarch64 cross build of the edge controller, and running its tests under emulation
  packages+=(crossbuild-essential-arm64 qemu-user)
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

# Warn (never fail) when libblas.so.3 is pinned to something other than OpenBLAS.
warn_blas() {
  local multiarch blas
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
  [[ -n "$multiarch" && -e "/usr/lib/$multiarch/libblas.so.3" ]] || return 0
  blas=$(readlink -f "/usr/lib/$multiarch/libblas.so.3")
  if [[ "$blas" != *openblas* ]]; then
    echo "setup: warning: libblas.so.3 -> $blas, not OpenBLAS; training will be slow" \
         "(sudo update-alternatives --config libblas.so.3-$multiarch)" >&2
  fi
}

# tools/onnx_check/node_modules: npm install --ignore-scripts (its install script would
# try to download; the binary is in the package). Skipped when already there.
install_onnx_check() {
  local dir
  dir="$(dirname "${BASH_SOURCE[0]}")/onnx_check"
  [[ -d "$dir/node_modules/onnxruntime-node" ]] && return 0
  if (( check_only )); then
    echo "setup: $dir: onnxruntime-node not installed (npm install --ignore-scripts there)" >&2
    return 1
  fi
  echo "setup: installing onnxruntime-node into $dir (npm)"
  (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
}

if (( ${#missing[@]} == 0 )); then
  warn_blas
  install_onnx_check
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")

if (( check_only )); then
  echo "setup: ${#missing[@]} of ${#packages[@]} packages missing: ${missing[*]}" >&2
  echo "setup: install them with: sudo ${install_cmd[*]}" >&2
  exit 1
fi

if (( EUID == 0 )); then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "setup: ${#missing[@]} packages missing: ${missing[*]}" >&2
  echo "setup: not root and no passwordless sudo; run:" >&2
  echo "sudo apt-get update && sudo ${install_cmd[*]}" >&2
  exit 1
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "${install_cmd[@]}"

# Confirm that everything requested is now present.
still=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || still+=("$pkg")
done
if (( ${#still[@]} )); then
  echo "setup: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
warn_blas
install_onnx_check
echo "setup: installed ${#missing[@]} packages (${missing[*]}); all ${#packages[@]} present"
