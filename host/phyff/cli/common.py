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
import json
import sys
from collections.abc import Callable
from typing import Any, Protocol

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BOARD = 3
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], int]


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


def run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Map failures to exit codes and one clear message (no traceback)."""
    from phyff.board.link import LinkError

    try:
        return fn(args)
    except KeyboardInterrupt:
        print("phyff: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LinkError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"phyff: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD
