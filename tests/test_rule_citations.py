"""Rule IDs hold: every rule cited anywhere exists, and a test cites every rule.

The project's C headers state their contracts as numbered rules, and code,
docs and tests cite them by ID (wire.h's "Rule IDs" section): the defining
file's tag, a hyphen, the rule's letter and number there, a range keeping one
tag ("W-T1-T11"). The tags and their files are read from that section and the
rules from the files themselves, so a rule or a rule file added there is
checked with no edit here. Each check prints what it found missing, with the
file and line of every citation.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIRE_H = ROOT / "shared" / "include" / "phyff" / "wire.h"
THIS = Path(__file__).resolve()

# Where a citation counts as a test's: the Python and C tests, the HIL
# suites and the MicroPython board's own tests.
TEST_DIRS = ("tests/", "hil/", "firmware/micropython/tests/")
# Every text file may cite rules, generated vectors (shared/vectors/*.json)
# included so that stale ones are caught; data and images are not read.
DATA_SUFFIXES = {".png", ".jpg", ".svg", ".pdf", ".csv", ".npz", ".npy", ".zip", ".gz", ".elf",
                 ".hex", ".bin", ".dat"}
SKIP_DIRS = {".git", "build", "typings", "__pycache__", ".pio", "node_modules", ".venv"}

# Capitals and digits that read like an unprefixed rule ID but are something
# else: (file, token, what it is).
NOT_RULES = [
    ("host/phyff/media/optical.py", "T1", "a time constant of the optical medium's drift"),
    ("host/phyff/datasets/vowels.py", "F4", "the fourth formant of a vowel"),
    ("host/phyff/compare/adapt.py", "C1", "a matplotlib colour of the default cycle"),
    ("host/phyff/cli/sweep.py", "V1", "a value placeholder of --grid FIELD=V1,V2"),
    ("host/phyff/cli/sweep.py", "V2", "a value placeholder of --grid FIELD=V1,V2"),
    ("docs/scaling.md", "V1", "a value placeholder of --grid FIELD=V1,V2"),
    ("docs/scaling.md", "V2", "a value placeholder of --grid FIELD=V1,V2"),
    ("tests/test_reliability3.py", "W1", "the second block's weights in a model file"),
]
# Arduino's pin names (analog A0..A7, digital D0..D13) are everywhere in the
# board code and docs; the rules of those letters (the Arduino port's A rules,
# model.h's D rules) are only ever cited with their tag.
PIN_NAME = re.compile(r"A[0-7]|D1[0-3]|D[0-9]")

_TAG_ROW = re.compile(r"^\s*\*\s{2,}([A-Z]{1,4})\s+((?:shared|firmware)/\S+)")
_RULE_DEF = r"^\s*(?:\*|//|#)\s+{tag}-([A-Z])(\d{{1,2}})\.\s"
_BARE_DEF = re.compile(r"^\s*\*\s+([A-Z])(\d{1,2})\.\s")
_BARE = re.compile(r"(?<![\w\-–./])([A-Z])(\d{1,2})(?:[-–]\1?\d{1,2})?(?![\w])")


@dataclass(frozen=True)
class Citation:
    path: str
    line: int
    rule: str  # "W-F3"

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def rule_files() -> dict[str, str]:
    """Tag -> file that defines its rules, from wire.h's "Rule IDs" section."""
    text = WIRE_H.read_text()
    section = text[text.index("Rule IDs"):text.index("=====", text.index("Rule IDs"))]
    tags = {}
    for line in section.splitlines():
        m = _TAG_ROW.match(line)
        if m:
            tags[m.group(1)] = m.group(2)
    return tags


def defined_rules(tags: dict[str, str]) -> dict[str, str]:
    """Every rule ID -> the file defining it."""
    rules = {}
    for tag, rel in tags.items():
        rx = re.compile(_RULE_DEF.format(tag=tag), re.M)
        for m in rx.finditer((ROOT / rel).read_text()):
            rules[f"{tag}-{m.group(1)}{m.group(2)}"] = rel
    return rules


def text_files() -> list[str]:
    """The repository's text files, relative paths (git's list when there is one)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        paths = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
    return sorted(p for p in paths
                  if Path(p).suffix not in DATA_SUFFIXES and (ROOT / p).is_file()
                  and not SKIP_DIRS.intersection(Path(p).parts) and _is_text(ROOT / p))


def _is_text(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\0" not in fh.read(8192)


def citations(tags: dict[str, str], files: list[str]) -> Iterator[Citation]:
    """Every rule a file cites; a range ("W-T1-T11", "M-V1–V5") cites each rule in it."""
    rx = re.compile(r"(?<![\w-])(" + "|".join(sorted(tags, key=len, reverse=True))
                    + r")-([A-Z])(\d{1,2})(?:[-–]\2?(\d{1,2}))?(?![\w])")
    for rel in files:
        for no, line in enumerate((ROOT / rel).read_text(errors="replace").splitlines(), 1):
            for m in rx.finditer(line):
                tag, letter, first = m.group(1), m.group(2), int(m.group(3))
                last = int(m.group(4)) if m.group(4) else first
                for n in range(first, max(first, last) + 1):
                    yield Citation(rel, no, f"{tag}-{letter}{n}")


@pytest.fixture(scope="module")
def scan() -> tuple[dict[str, str], dict[str, str], list[str], list[Citation]]:
    tags = rule_files()
    assert tags, f"no rule tags found in the 'Rule IDs' section of {WIRE_H}"
    files = text_files()
    return tags, defined_rules(tags), files, list(citations(tags, files))


def _report(title: str, lines: list[str]) -> str:
    text = f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)
    print(text)
    return text


def test_every_tagged_file_defines_rules(scan) -> None:
    tags, rules, _, _ = scan
    empty = [f"{tag} ({rel})" for tag, rel in tags.items()
             if not any(r.startswith(tag + "-") for r in rules)]
    assert not empty, _report("tags whose file defines no rule", empty)


def test_every_cited_rule_exists(scan) -> None:
    _, rules, _, cited = scan
    missing = sorted({f"{c.rule} cited at {c.where()}" for c in cited if c.rule not in rules})
    assert not missing, _report("rules cited but defined nowhere", missing)


def test_every_rule_is_cited_by_a_test(scan) -> None:
    _, rules, _, cited = scan
    by_tests = {c.rule for c in cited
                if c.path.startswith(TEST_DIRS) and (ROOT / c.path).resolve() != THIS}
    uncited = sorted(f"{r} ({rules[r]})" for r in set(rules) - by_tests)
    assert not uncited, _report("rules no test cites (name the rule where a test checks it)",
                                uncited)


def test_no_rule_is_cited_without_its_tag(scan) -> None:
    """An old-style ID (F3, T1-T8) is ambiguous: F3 is a rule of wire.h and of fixed.h."""
    _, rules, files, _ = scan
    local = {r.split("-", 1)[1] for r in rules}
    allowed = {(path, token) for path, token, _ in NOT_RULES}
    bare = []
    for rel in files:
        if rel.endswith(".json") or (ROOT / rel).resolve() == THIS:
            continue  # generated data (random names in fuzz vectors); this file's examples
        for no, line in enumerate((ROOT / rel).read_text(errors="replace").splitlines(), 1):
            for m in _BARE.finditer(line):
                token = m.group(1) + m.group(2)
                if token in local and not PIN_NAME.fullmatch(token) \
                        and (rel, token) not in allowed:
                    bare.append(f"{rel}:{no}: {m.group(0)!r} in {line.strip()[:90]!r}")
    assert not bare, _report("rule IDs without their tag (write e.g. W-F3 or FX-F3)", bare)


def test_rules_are_defined_with_their_files_tag(scan) -> None:
    """A rule file defines TAG-F1, not F1; a C file with rules has a tag in wire.h."""
    tags, _, files, _ = scan
    tag_of = {rel: tag for tag, rel in tags.items()}
    unprefixed = []
    for rel in files:
        if Path(rel).suffix not in {".c", ".h", ".cpp", ".ino"}:
            continue
        for no, line in enumerate((ROOT / rel).read_text(errors="replace").splitlines(), 1):
            m = _BARE_DEF.match(line)
            if m:
                fix = (f"write {tag_of[rel]}-{m.group(1)}{m.group(2)}" if rel in tag_of
                       else "give the file a tag in wire.h's Rule IDs table")
                unprefixed.append(f"{rel}:{no}: rule {m.group(1)}{m.group(2)} ({fix})")
    assert not unprefixed, _report("rules defined without a tag", unprefixed)
