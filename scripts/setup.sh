#!/usr/bin/env bash
# Set up keyscaffold on a fresh Debian/Ubuntu machine: headless GL libraries and a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for lib in libEGL.so.1 libOSMesa.so.8; do
  ldconfig -p | grep -q "$lib" || need_apt+=("$lib")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libegl1 libgl1-mesa-dri libosmesa6 >/dev/null
  else
    echo "missing ${need_apt[*]}: run 'sudo apt-get install libegl1 libgl1-mesa-dri libosmesa6'" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pin torch first: the CPU wheel; an unpinned torch would pull the CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
