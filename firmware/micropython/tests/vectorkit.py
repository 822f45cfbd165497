"""The loop the golden-vector runners share (vectors_mp.py, model_vectors_mp.py,
learn_vectors_mp.py).

A runner names its checkers (group -> function returning None when a case
passes, else a message) and the groups the board has no use for; this runs
every group of a vector file through them and prints one line per group, the
first failures, and "N passed, M failed". Plain MicroPython: runs on the unix
port and on a board.
"""

import json
import sys

META = ("format", "generator", "seed")


def run(path: str, checkers: dict, not_on_board: tuple = ()) -> int:
    """Check every group of the vector file at path; 0 when all pass, else 1."""
    with open(path) as f:
        doc = json.load(f)
    if doc["format"] != 1:
        print("unsupported vector format", doc["format"])
        return 1
    passed = 0
    failed = 0
    for group in sorted(doc):
        if group in META:
            continue
        if group in not_on_board:
            print(f"group {group}: not used on the board")
            continue
        check = checkers.get(group)
        if check is None:
            print(f"group {group}: NO CHECKER")
            failed += 1
            continue
        bad = 0
        for i, case in enumerate(doc[group]):
            try:
                msg = check(case)
            except Exception as exc:  # a crash is a failure of that case
                msg = f"raised {exc!r}"
            if msg is None:
                passed += 1
            else:
                failed += 1
                bad += 1
                if bad <= 5:
                    print(f"  FAIL {group}[{i}]: {msg}")
        print(f"group {group}: {len(doc[group])} cases, {bad} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main(default_file: str, checkers: dict, not_on_board: tuple = ()) -> int:
    """run() on the vector file named on the command line, else on shared/vectors'
    default_file (found from this file's folder, so a runner works from anywhere)."""
    here = __file__.rpartition("/")[0] or "."
    path = sys.argv[1] if len(sys.argv) > 1 else here + "/../../../shared/vectors/" + default_file
    return run(path, checkers, not_on_board)
