#!/usr/bin/env bash
# Installs an FFmpeg build with libvmaf (the one inside the PyPI package imageio-ffmpeg, with
# libx264 and libsvtav1 too) for the quality cross-check of bitswarm-quality, and prints its
# path. Idempotent: an installed package is reused. Needs python3 with pip.
#   export BITSWARM_FFMPEG_VMAF="$(scripts/install-ffmpeg-vmaf.sh)"
set -euo pipefail

find_exe() {
  python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())" 2>/dev/null
}

if ! exe="$(find_exe)"; then
  echo "install-ffmpeg-vmaf: installing imageio-ffmpeg with pip" >&2
  python3 -m pip install --quiet --disable-pip-version-check imageio-ffmpeg >&2 ||
    python3 -m pip install --quiet --disable-pip-version-check --user imageio-ffmpeg >&2
  exe="$(find_exe)"
fi
if ! "$exe" -hide_banner -h filter=libvmaf 2>/dev/null | grep -q "libvmaf AVOptions"; then
  echo "install-ffmpeg-vmaf: $exe has no libvmaf filter" >&2
  exit 1
fi
echo "$exe"
