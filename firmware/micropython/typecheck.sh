#!/usr/bin/env bash
# Type-check the MicroPython board program against each board's MicroPython stubs.
#
#   firmware/micropython/typecheck.sh              every board: rp2, esp32, pyboard, unix
#   firmware/micropython/typecheck.sh rp2 [FILE…]  one board; FILEs instead of its file list
#
# Stubs are pip-installed once into typings/<board>/ at the repository root
# (git-ignored); later runs reuse them. Needs mypy and pip (and PyPI on the
# first run). Exit status: non-zero when any board fails.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TYPINGS="${PHYFF_TYPINGS:-$ROOT/typings}"
PYTHON="${PYTHON:-python3}"

# board -> stub package (pinned: a new stub release must not break CI unseen)
stubs_for() {
  case "$1" in
    rp2) echo "micropython-rp2-rpi-pico-stubs==1.29.0.post1" ;;
    esp32|unix) echo "micropython-esp32-esp32-generic-stubs==1.29.0.post1" ;;
    pyboard) echo "micropython-stm32-pybv11-stubs==1.29.0.post1" ;;
    *) echo "unknown board $1 (rp2, esp32, pyboard, unix)" >&2; return 1 ;;
  esac
}

# board -> mypy --platform (what sys.platform says on that port)
platform_for() {
  case "$1" in
    unix) echo linux ;;
    *) echo "$1" ;;
  esac
}

COMMON=(phyffmp/__init__.py phyffmp/wire.py phyffmp/model.py phyffmp/core.py phyffmp/link.py phyffmp/app.py
        phyffmp/ports/__init__.py phyffmp/ports/hw.py)
files_for() {
  case "$1" in
    rp2) echo "${COMMON[*]} phyffmp/ports/rp2.py boardcfg.py main.py" ;;
    esp32) echo "${COMMON[*]} phyffmp/ports/esp32.py boardcfg.py main.py" ;;
    pyboard) echo "${COMMON[*]} phyffmp/ports/stm32.py boardcfg.py main.py" ;;
    unix) echo "${COMMON[*]} boardcfg.py host/machine.py host/mediumlink.py host/hostport.py host/tcplink.py host/hostmain.py" ;;
  esac
}

install_stubs() {
  local dir="$TYPINGS/$1" pkg
  pkg="$(stubs_for "$1")"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$pkg" ]; then
    return 0
  fi
  echo "installing $pkg into $dir" >&2
  rm -rf "$dir"
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-compile --target "$dir" "$pkg" >&2
  echo "$pkg" > "$dir/.installed"
}

check_board() {
  local board="$1"; shift
  local stubdir="$TYPINGS/$board" path files
  [ "$board" = unix ] && stubdir="$TYPINGS/esp32"
  install_stubs "$([ "$board" = unix ] && echo esp32 || echo "$board")"
  if [ "$#" -gt 0 ]; then files=("$@"); else read -r -a files <<< "$(files_for "$board")"; fi
  # unix: host/ first, so `import machine` is the host stand-in, not the stub.
  path="$HERE:$stubdir"
  [ "$board" = unix ] && path="$HERE/host:$HERE:$stubdir"
  echo "== $board ($(basename "$(cat "$stubdir/.installed")"))"
  (cd "$HERE" && MYPYPATH="$path" "$PYTHON" -m mypy --config-file "$HERE/mypy.ini" \
      --custom-typeshed-dir "$stubdir" --platform "$(platform_for "$board")" \
      --cache-dir "$TYPINGS/.mypy_cache/$board" "${files[@]}")
}

if [ "$#" -gt 0 ]; then
  board="$1"; shift
  stubs_for "$board" >/dev/null
  check_board "$board" "$@"
  exit $?
fi
status=0
for board in rp2 esp32 pyboard unix; do
  check_board "$board" || status=1
done
exit $status
