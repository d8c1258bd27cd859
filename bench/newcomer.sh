#!/usr/bin/env bash
# A newcomer's first run, timed: a fresh clone, a fresh venv, the README's commands.
#
#   bench/newcomer.sh [WORK_DIR]
#
# Clones this checkout's HEAD into WORK_DIR (default: a new temporary folder), then times
#   pip install -e .                    (the README's setup)
#   levitor demo                        (planning the example scene)
#   python -m levitor.generation.tiny tiny  (tiny random models)
#   levitor generate --demo --quick ... (the quick generation path)
# and prints one line per step. The folder is removed at the end unless WORK_DIR was given.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ge 1 ]; then WORK=$1; mkdir -p "$WORK"; else WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
declare -a REPORT
timed() {
    local name=$1; shift
    local t0; t0=$(date +%s.%N)
    "$@" >"$WORK/$(echo "$name" | tr ' /' '__').log" 2>&1 || { echo "FAILED: $name (see $WORK)"; exit 1; }
    REPORT+=("$(printf '%-40s %7.1f s' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)")")
}
timed "git clone" git clone -q "$REPO" "$WORK/levitor"
cd "$WORK/levitor"
timed "python3 -m venv" python3 -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
timed "pip install -e ." pip install -q -e .
timed "levitor demo" levitor demo
timed "python -m levitor.generation.tiny tiny" python -m levitor.generation.tiny tiny
timed "levitor generate --demo --quick" levitor generate --demo --quick --svd tiny/svd --controlnet tiny/controlnet --out demo.mp4
test -s demo.mp4 && test -s levitor_demo/preview.mp4
printf '%s\n' "${REPORT[@]}"
echo "on $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
