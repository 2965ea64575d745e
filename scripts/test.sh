#!/usr/bin/env bash
# The test suite: installs what the tests need (scripts/setup.sh), then runs every test of the
# workspace. The end-to-end tests require Mosquitto and ffprobe here (BITSWARM_REQUIRE_TOOLS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export BITSWARM_REQUIRE_TOOLS=1
cargo test --workspace --locked "$@"
