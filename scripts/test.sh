#!/usr/bin/env bash
# The test suite: installs what the tests need (scripts/setup.sh: Mosquitto, FFmpeg, nasm;
# scripts/install-ffmpeg-vmaf.sh: an FFmpeg with libvmaf for the quality cross-check), then runs
# every test of the workspace. Tools the tests need are required here (BITSWARM_REQUIRE_TOOLS=1):
# a missing one fails the run instead of skipping its checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BITSWARM_FFMPEG_VMAF="$(scripts/install-ffmpeg-vmaf.sh)"
export BITSWARM_FFMPEG_VMAF
export BITSWARM_REQUIRE_TOOLS=1
cargo test --workspace --locked "$@"
