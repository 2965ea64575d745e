#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain: Mosquitto (a second MQTT 5 broker the
# tests run against), FFmpeg (ffprobe checks our MP4 output; ffmpeg decodes other input formats)
# and nasm (OpenH264's assembly, for full encoder speed; without it OpenH264 builds in plain C).
# Idempotent; needs root (or sudo) for apt-get.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v nasm >/dev/null 2>&1 || need+=(nasm)

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: mosquitto, ffmpeg and nasm are present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system broker on port 1883 where an init system runs; the tests
# start their own on a free port, so stop it to keep the machine quiet.
$sudo systemctl stop mosquitto >/dev/null 2>&1 || true
echo "setup: done"
