"""What every phyff command shares: exit codes, JSON output, board URL resolution,
and the one exception boundary that turns failures into exit codes.

Exit codes scripts can rely on:
  0 success; 1 the job ran but failed its purpose (e.g. eval below a
  threshold); 2 bad usage or bad input (a missing file, wrong shapes, NaN);
  3 board or link problem (no board, wrong firmware, timeouts);
  130 interrupted (Ctrl-C), after saving what could be saved.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BOARD = 3
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], int]

DATA_HELP = ("folder with the data files (default: $PHYFF_DATA_DIR, else the user data "
             "folder, ~/.local/share/phyff on Linux; `phyff datasets` says which)")


class AddCommand(Protocol):
    """Registers a subcommand: (name, function, help, board options?) -> its parser."""

    def __call__(self, name: str, fn: Command, help_: str,
                 board: bool = False) -> argparse.ArgumentParser: ...


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def resolve_board(url: str | None) -> str:
    if url in (None, "", "auto"):
        from phyff.board.discovery import auto_board_url

        return auto_board_url()
    return url


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    """The documented exit code and the one-line message for a failure.

    The one place where error classes meet exit codes: bad input (including
    files that cannot be read or written: a missing, read-only or full disk,
    a name too long, a directory where a file belongs) is 2; a board or link
    problem is 3; an interruption is 130; anything else is a bug, 1.
    """
    from phyff.board.link import LinkError
    from phyff.training.loop import TrainingDiverged

    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, TrainingDiverged):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, LinkError):
        return EXIT_BOARD, str(exc)
    if isinstance(exc, KeyError):
        return EXIT_USAGE, str(exc.args[0] if exc.args else exc)
    if isinstance(exc, ValueError | TypeError | IndexError | OverflowError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    return EXIT_FAILED, (f"unexpected {type(exc).__name__}: {exc} (a bug in phyff: run again "
                         f"with --debug for the traceback and report it)")


_FILE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.ENAMETOOLONG: "the name is too long", errno.EISDIR: "it is a directory",
                errno.ENOTDIR: "a part of the path is a file, not a directory",
                errno.EEXIST: "it already exists", errno.ENOENT: "no such file or directory",
                errno.EDQUOT: "the disk quota is exceeded"}


def _os_error(exc: OSError) -> tuple[int, str]:
    """Files are the user's to fix (2); other OS errors come from ports and sockets (3)."""
    name = exc.filename
    file_kinds = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
                  FileExistsError)
    if isinstance(exc, file_kinds) and name is None:
        return EXIT_USAGE, str(exc)  # raised by phyff itself with its own advice
    if name is not None or exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
        reason = _FILE_ERRNOS.get(exc.errno or -1, exc.strerror or str(exc))
        where = f" {name}" if name is not None else ""
        return EXIT_USAGE, f"cannot use{where}: {reason}; choose another path or free the disk"
    return EXIT_BOARD, f"{exc.strerror or exc} (board or link problem)"


def run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: every failure becomes its exit code and one clear message.

    No traceback reaches a user unless they ask with --debug (or PHYFF_DEBUG=1).
    """
    debug = bool(getattr(args, "debug", False)) or os.environ.get("PHYFF_DEBUG") == "1"
    if not debug:
        warnings.showwarning = _show_warning
    try:
        return fn(args)
    except BrokenPipeError:
        # the reader went away (phyff ... | head): not an error of the board or the
        # data; stop quietly, and keep Python from complaining at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (Exception, KeyboardInterrupt) as exc:
        code, message = exit_code_for(exc)
        if debug:
            traceback.print_exc()
        print(f"phyff: {message}", file=sys.stderr)
        return code


def _number(text: str, kind: type, ok: Callable[[Any], bool], want: str) -> Any:
    """Parse `text` as `kind` and check it, with argparse's error for a bad value."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give {want}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give {want}")
    return value


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line a user can act on, without Python's source context."""
    print(f"phyff: warning: {message}", file=sys.stderr if file is None else file)


def positive_seconds(text: str) -> float:
    """argparse type for a timeout: seconds, finite, above 0, at most a day.

    ``nan`` would make every deadline comparison false (wait forever) and
    ``inf`` overflows select(); the rule is the link's own (`check_timeout`).
    """
    from phyff.board.link import check_timeout

    try:
        return check_timeout(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            str(exc) if "must be" in str(exc) else f"{text!r} is not a number of seconds"
        ) from None


def positive_int(text: str) -> int:
    """argparse type: a whole number > 0."""
    return int(_number(text, int, lambda v: v > 0, "a whole number > 0"))


def fraction(text: str) -> float:
    """argparse type: a finite number in [0, 1] (accuracies are fractions, not percent)."""
    try:
        hint = f" (did you mean {float(text) / 100:g}?)" if 1.0 < float(text) <= 100.0 else ""
    except ValueError:
        hint = ""
    return float(_number(text, float, lambda v: 0.0 <= v <= 1.0,
                         f"a fraction in [0, 1]{hint}"))


def model_file(path: Path) -> Path:
    """The model.npz a command was given: the file itself or the run directory holding it."""
    if path.is_dir():
        path = path / "model.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"no model at {path}: pass a run directory written by `phyff train` or its model.npz")
    return path
