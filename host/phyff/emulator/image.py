"""Firmware images for the emulated boards: where, whether fresh, how to build them.

The QEMU image (:mod:`phyff.emulator.qemu`) and the Uno image
(:mod:`phyff.emulator.simavr`) are built the same way, so it is written
once here:

1. The build is defined once, in ``firmware/platformio.ini`` and the local
   platform's board manifest. ``pio run -e ENV`` builds it when PlatformIO
   works offline (:func:`pio_ready`); otherwise each board module compiles
   the same sources with the same flags directly (:func:`pio_options` and
   :func:`filter_sources` read that definition), so there is no second list
   of sources or flags to drift.
2. An image is used only if it is newer than every file it is built from
   (:meth:`FirmwareImage.find_elf`); otherwise it is rebuilt
   (:meth:`FirmwareImage.ensure`).
3. Errors are raised as the board module's own error class (QemuError,
   SimavrError), with what to do.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# Files every image is built from (repository-relative globs), besides its port's
# and its local platform's.
COMMON_INPUTS = ("firmware/src/**/*.[ch]", "shared/src/*.c", "shared/include/phyff/*.h",
                 "firmware/platformio.ini")
# Options of a platformio.ini environment the direct builds need.
PIO_KEYS = ("build_src_filter", "build_flags", "build_src_flags", "board",
            "board_build.ldscript")


def repo_root() -> Path:
    """The checkout holding firmware/ (the package is installed editable from it).

    PHYFF_REPO overrides it, for a package installed elsewhere.
    """
    env = os.environ.get("PHYFF_REPO")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3]


def firmware_dir() -> Path:
    return repo_root() / "firmware"


def is_fresh(target: Path, sources: Iterable[Path]) -> bool:
    """True when target exists and is at least as new as every source."""
    if not target.is_file():
        return False
    newest = max((p.stat().st_mtime for p in sources), default=0.0)
    return target.stat().st_mtime >= newest


def pio_ready() -> bool:
    """PlatformIO installed and able to build offline (tool-scons registered)."""
    if shutil.which("pio") is None:
        return False
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    return (core / "packages" / "tool-scons" / "package.json").is_file()


def pio_options(env: str, error: type[Exception] = ValueError) -> dict[str, str]:
    """An environment's build options (:data:`PIO_KEYS`) from platformio.ini, with
    ``${section.option}`` references resolved and ``[env]`` as the fallback, plus
    ``src_dir``. Options the file does not set are empty strings."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(firmware_dir() / "platformio.ini")
    pattern = re.compile(r"\$\{([^.}]+)\.([^}]+)\}")

    def resolve(text: str, depth: int = 0) -> str:
        if depth > 10:
            raise error("platformio.ini: ${...} references nest too deeply")
        return pattern.sub(lambda m: resolve(cfg.get(m.group(1), m.group(2), fallback=""),
                                             depth + 1), text)

    out: dict[str, str] = {}
    for key in PIO_KEYS:
        value = cfg.get(f"env:{env}", key, fallback=None)
        out[key] = resolve(value if value is not None else cfg.get("env", key, fallback=""))
    out["src_dir"] = cfg.get("platformio", "src_dir", fallback="src")
    return out


def filter_sources(src_dir: Path, src_filter: str, suffixes: tuple[str, ...]) -> list[Path]:
    """PlatformIO's +<...>/-<...> source filter, for the patterns platformio.ini uses:
    the files with one of `suffixes` it selects under src_dir, sorted by path as
    PlatformIO links them (the link order moves code by a few alignment bytes, and
    the direct build must give the very image ``pio run`` gives)."""
    chosen: list[Path] = []
    for sign, pattern in re.findall(r"([+-])<([^>]*)>", src_filter):
        if pattern in ("*", "*/", ""):
            matched = list(src_dir.rglob("*"))
        elif pattern.endswith("/"):
            matched = list((src_dir / pattern).rglob("*"))
        else:
            matched = list(src_dir.glob(pattern))
        matched = [p.resolve() for p in matched if p.is_file() and p.suffix in suffixes]
        if sign == "+":
            chosen += [p for p in matched if p not in chosen]
        else:
            chosen = [p for p in chosen if p not in matched]
    return sorted(chosen)


@dataclass(frozen=True)
class FirmwareImage:
    """One board's firmware image: a PlatformIO environment and its direct build.

    env: the platformio.ini environment ``pio run`` builds; build_dir: the
    directory under ``build/`` the direct build writes ``firmware.elf`` to;
    port and platform: the directories under ``firmware/ports`` and
    ``firmware/platforms`` it is built from, besides :data:`COMMON_INPUTS`
    (its freshness is judged against all of them); error: the board module's
    error class; direct: the board module's direct build (keyword ``verbose``);
    touch_pio: touch pio's ELF after a successful ``pio run`` (SCons relinks
    only when an input changed, so an edit that leaves the program alike, a
    comment or the build script, would otherwise leave it looking stale).
    """

    env: str
    build_dir: str
    port: str
    platform: str
    error: type[Exception]
    direct: Callable[..., Path]
    touch_pio: bool = False

    def pio_elf(self) -> Path:
        return firmware_dir() / ".pio" / "build" / self.env / "firmware.elf"

    def gcc_elf(self) -> Path:
        return repo_root() / "build" / self.build_dir / "firmware.elf"

    def source_files(self) -> list[Path]:
        root = repo_root()
        globs = (*COMMON_INPUTS, f"firmware/ports/{self.port}/*",
                 f"firmware/platforms/{self.platform}/**/*")
        return [p for g in globs for p in root.glob(g) if p.is_file()]

    def find_elf(self) -> Path | None:
        """An up-to-date ELF if one was built (by pio or the direct build), else None."""
        sources = self.source_files()
        fresh = [p for p in (self.pio_elf(), self.gcc_elf()) if is_fresh(p, sources)]
        return max(fresh, key=lambda p: p.stat().st_mtime) if fresh else None

    def sources(self, env: str, suffixes: tuple[str, ...]) -> tuple[dict[str, str], list[Path]]:
        """env's options from platformio.ini and the sources its build_src_filter selects
        (absolute), for a direct build; the error class if it selects none."""
        opts = pio_options(env, self.error)
        sources = filter_sources((firmware_dir() / opts["src_dir"]).resolve(),
                                 opts["build_src_filter"], suffixes)
        if not sources:
            raise self.error(f"no sources matched build_src_filter of env:{env} in "
                             f"platformio.ini")
        return opts, sources

    def build(self, *, use_pio: bool | None = None, verbose: bool = False) -> Path:
        """Build the image and return its ELF path: ``pio run -e ENV`` when PlatformIO is
        ready offline (or use_pio=True), else, or when pio fails (e.g. for want of its
        registry), the direct build from the same definition."""
        if use_pio is None:
            use_pio = pio_ready()
        pio_log = ""
        if use_pio:
            proc = subprocess.run(["pio", "run", "-e", self.env, "-d", str(firmware_dir())],
                                  capture_output=True, text=True, check=False)
            if verbose:
                sys.stderr.write(proc.stdout + proc.stderr)
            elf = self.pio_elf()
            if proc.returncode == 0 and elf.is_file():
                if self.touch_pio:
                    elf.touch()
                return elf
            pio_log = (proc.stdout + proc.stderr)[-2000:]
        try:
            return self.direct(verbose=verbose)
        except self.error as exc:
            if pio_log:
                raise self.error(f"{exc}\n(pio run -e {self.env} failed too:\n{pio_log})") \
                    from exc
            raise

    def ensure(self, *, verbose: bool = False) -> Path:
        """The up-to-date ELF, built first if needed."""
        return self.find_elf() or self.build(verbose=verbose)


__all__ = ["COMMON_INPUTS", "FirmwareImage", "filter_sources", "firmware_dir", "is_fresh",
           "pio_options", "pio_ready", "repo_root"]
