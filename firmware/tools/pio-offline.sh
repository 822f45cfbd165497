#!/usr/bin/env bash
# Make PlatformIO usable without its package registry.
#
# Why: even a local platform (firmware/platforms/*) makes PlatformIO fetch
# its build engine, the package "tool-scons", from the registry before the
# first build. Where the registry is unreachable (CI, offline machines)
# that fetch fails, although the very same SCons is on PyPI. This script
# registers the pip-installed SCons as that package, so `pio run -e qemu`
# and `pio test -e native` work offline. Boards from the official platforms
# (uno, pico, nucleo_l476rg, esp32dev) still need the registry.
#
# Idempotent: run it as often as you like. Needs `pip install platformio
# scons` (the project's `firmware` extra). Honours $PLATFORMIO_CORE_DIR
# (default ~/.platformio), like PlatformIO itself.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import SCons.Script' 2>/dev/null || {
  echo "pio-offline: SCons is not installed; run: $PYTHON -m pip install scons platformio" >&2
  exit 1
}
command -v pio >/dev/null || {
  echo "pio-offline: PlatformIO is not installed; run: $PYTHON -m pip install platformio" >&2
  exit 1
}

# The tool-scons version this PlatformIO asks for (6.2: ~4.41101.0, i.e. SCons
# 4.11.1); PlatformIO only checks the number, then runs the SCons pip installed.
SCONS_PKG_VERSION="$("$PYTHON" -c 'from platformio.dependencies import get_core_dependencies as d
print(d()["tool-scons"].lstrip("~^=<> "))' 2>/dev/null || true)"
SCONS_PKG_VERSION="${SCONS_PKG_VERSION:-4.41101.0}"

core_dir="${PLATFORMIO_CORE_DIR:-$HOME/.platformio}"
pkg="$core_dir/packages/tool-scons"
mkdir -p "$pkg"

cat >"$pkg/package.json" <<JSON
{
  "name": "tool-scons",
  "version": "$SCONS_PKG_VERSION",
  "description": "SCons from PyPI, registered for offline PlatformIO use",
  "keywords": ["build tools"],
  "license": "MIT"
}
JSON

cat >"$pkg/.piopm" <<JSON
{"type": "tool", "name": "tool-scons", "version": "$SCONS_PKG_VERSION", "spec": {"owner": "platformio", "id": 1, "name": "tool-scons", "requirements": null, "uri": null}}
JSON

# PlatformIO runs this file with its own Python; SCons is imported from
# that interpreter's site-packages (where pip put it).
cat >"$pkg/scons.py" <<'PY'
import SCons.Script
SCons.Script.main()
PY

echo "pio-offline: tool-scons $SCONS_PKG_VERSION registered in $pkg"
