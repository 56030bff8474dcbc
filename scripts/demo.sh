#!/usr/bin/env bash
# Warden's main job, from a fresh machine: set up what is missing, then run the demo
# (a hardened sandbox on a sample workspace, a streamed command, a blocked write, removal).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/warden.js demo
