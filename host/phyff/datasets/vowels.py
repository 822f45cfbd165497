"""The Hillenbrand (1995) vowel datasets: ``vowels7``, ``vowels7:speaker``, ``hillenbrand12``.

``vowels7``
    The 7-vowel subset of Hillenbrand et al. (1995) used by physics-aware training
    (Wright et al., Nature 2022) and PhyLL (Momeni et al., Science 2023): 259 tokens
    from the 48 women, vowels ae, ah, aw, uw, er, iy, ih (labels 0..6), 12 formant
    features, and the train/test split published with physics-aware training
    (the ``split`` column of ``vowels7/vowels7_pat_split.csv``). That split is
    random by token, so test talkers also appear in training.
``vowels7:speaker``
    The same tokens split by talker (about 20 % of the 48 talkers held out,
    chosen by ``seed``), so the test measures generalisation to a new voice.
``hillenbrand12``
    All 12 vowels of all 139 talkers (men, women, boys, girls) from
    ``hillenbrand1995/vowdata.dat``, same 12 features, split by talker (about 20 %
    of the talkers of each speaker class held out, chosen by ``seed``). Tokens with
    any of the 12 formants recorded as 0 ("not measurable") are dropped: 71 of the
    file's 1,668 tokens, leaving 1,597. Labels 0..6 are the vowels7 vowels in the
    same order, so a token has the same label in both datasets.

Scaling: formants in Hz divided by their maximum over the training split (max-abs;
the curated files hold no outliers, and the published results use this scaling).
"""

from __future__ import annotations

import csv
import os
import re
from typing import Final

import numpy as np

from phyff.datasets.base import (
    Dataset,
    DatasetError,
    check_finite,
    data_file,
    group_test_mask,
    list_some,
    scaled_dataset,
)
from phyff.datasets.registry import register

VOWELS7_FILE: Final = "vowels7/vowels7_pat_split.csv"
HILLENBRAND_FILE: Final = "hillenbrand1995/vowdata.dat"

VOWELS7_CLASSES: Final = ("ae", "ah", "aw", "uw", "er", "iy", "ih")
# The vowels7 vowels first, in their order, so labels 0..6 mean the same in both sets.
HILLENBRAND12_CLASSES: Final = (*VOWELS7_CLASSES, "eh", "ei", "oa", "oo", "uh")
FORMANT_FEATURES: Final = (
    "F1_ss", "F2_ss", "F3_ss",
    "F1_20", "F2_20", "F3_20",
    "F1_50", "F2_50", "F3_50",
    "F1_80", "F2_80", "F3_80",
)  # fmt: skip
# 0-based columns of vowdata.dat holding FORMANT_FEATURES (F4 at column 6 is skipped).
_HILLENBRAND_COLUMNS: Final = (3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)
_HILLENBRAND_HEADER_LINES: Final = 30
_HILLENBRAND_NAME = re.compile(r"^([mwbg])(\d{2})([a-z]{2})$", re.ASCII)

VOWEL_ORIGIN: Final = (
    "The vowel data are Hillenbrand et al. (1995), 'Acoustic characteristics of American "
    "English vowels', JASA 97(5); the 7-vowel subset and its train/test split are the "
    "ones published with physics-aware training (Wright et al., Nature 2022)."
)


def load_vowels7(
    data_dir: str | os.PathLike[str] | None, *, speaker_split: bool, seed: int
) -> Dataset:
    """vowels7 (file split) or vowels7:speaker (talker split) from the published CSV."""
    name = "vowels7:speaker" if speaker_split else "vowels7"
    path = data_file(data_dir, VOWELS7_FILE, name, VOWEL_ORIGIN)
    hz_columns = [f"{f}_hz" for f in FORMANT_FEATURES]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [
                c
                for c in ["split", "label", "vowel", "hillenbrand_file", *hz_columns]
                if c not in (reader.fieldnames or [])
            ]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {missing}; not the expected file"
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read the vowels7 file: {exc}") from exc
    try:
        x = np.array([[float(r[c]) for c in hz_columns] for r in rows], dtype=np.float64)
        y = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path.name}: unreadable number: {exc}") from exc
    check_finite(x, path.name, hz_columns, lambda i: f"line {i + 2}")
    for i, r in enumerate(rows):
        if not 0 <= y[i] < len(VOWELS7_CLASSES) or VOWELS7_CLASSES[y[i]] != r["vowel"]:
            raise DatasetError(
                f"{path.name} line {i + 2}: label {r['label']} does not match vowel "
                f"{r['vowel']!r} (expected labels {dict(enumerate(VOWELS7_CLASSES))})"
            )
    files = [r["hillenbrand_file"] for r in rows]
    if speaker_split:
        talkers = [f[:3] for f in files]
        test = group_test_mask(talkers, ["w"] * len(talkers), np.random.default_rng(seed))
        n_talkers = len(set(talkers))
        n_test_talkers = len({t for t, m in zip(talkers, test, strict=True) if m})
        split = f"split by talker: {n_test_talkers} of {n_talkers} talkers held out (seed {seed})"
    else:
        values = [r["split"].strip() for r in rows]
        bad = [f"line {i + 2}: {v!r}" for i, v in enumerate(values) if v not in ("train", "test")]
        if bad:
            raise DatasetError(f"{path.name}: split must be train or test: {list_some(bad)}")
        test = np.array([v == "test" for v in values])
        split = "train/test split published with physics-aware training (by token)"
    return scaled_dataset(
        name,
        x[~test], y[~test], x[test], y[test],
        class_names=VOWELS7_CLASSES,
        feature_names=FORMANT_FEATURES,
        source=(
            "Hillenbrand et al. 1995, 7-vowel subset of 48 women as published with "
            f"physics-aware training (Wright et al. 2022); {split}; formants in Hz "
            "divided by their training maxima"
        ),
    )  # fmt: skip


def load_hillenbrand12(data_dir: str | os.PathLike[str] | None, *, seed: int) -> Dataset:
    """All 12 vowels of all talkers, measurable tokens only, split by talker."""
    path = data_file(data_dir, HILLENBRAND_FILE, "hillenbrand12", VOWEL_ORIGIN)
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    legend = lines[_HILLENBRAND_HEADER_LINES - 1].split() if len(lines) >= 30 else []
    if legend != [str(i) for i in range(1, 17)]:
        raise DatasetError(
            f"{path.name}: expected the column legend '1 2 ... 16' on line "
            f"{_HILLENBRAND_HEADER_LINES} (end of the header); not the expected file"
        )
    class_index = {v: i for i, v in enumerate(HILLENBRAND12_CLASSES)}
    features: list[list[float]] = []
    labels: list[int] = []
    talkers: list[str] = []
    n_tokens = 0
    first_data_line = _HILLENBRAND_HEADER_LINES + 1
    for line_no, line in enumerate(lines[_HILLENBRAND_HEADER_LINES:], first_data_line):
        fields = line.split()
        if not fields:
            continue
        match = _HILLENBRAND_NAME.match(fields[0])
        if match is None or len(fields) != 16 or match.group(3) not in class_index:
            raise DatasetError(
                f"{path.name} line {line_no}: unexpected entry {line.strip()[:80]!r}"
            )
        try:
            values = [float(fields[c]) for c in _HILLENBRAND_COLUMNS]
        except ValueError as exc:
            raise DatasetError(f"{path.name} line {line_no}: {exc}") from exc
        n_tokens += 1
        if 0.0 in values:  # 0 = "not measurable" in this file
            continue
        features.append(values)
        labels.append(class_index[match.group(3)])
        talkers.append(match.group(1) + match.group(2))
    x = np.array(features, dtype=np.float64).reshape(-1, len(FORMANT_FEATURES))
    y = np.array(labels, dtype=np.int64)
    check_finite(x, path.name, FORMANT_FEATURES)
    # Choose test talkers from every talker in the file, not only those with a
    # measurable token, so the split does not depend on the dropping rule.
    data_lines = lines[_HILLENBRAND_HEADER_LINES:]
    all_talkers = sorted({ln.split()[0][:3] for ln in data_lines if ln.split()})
    held = group_test_mask(all_talkers, [t[0] for t in all_talkers], np.random.default_rng(seed))
    test_talkers = {t for t, m in zip(all_talkers, held, strict=True) if m}
    test = np.array([t in test_talkers for t in talkers], dtype=bool)
    dropped = n_tokens - len(labels)
    return scaled_dataset(
        "hillenbrand12",
        x[~test], y[~test], x[test], y[test],
        class_names=HILLENBRAND12_CLASSES,
        feature_names=FORMANT_FEATURES,
        source=(
            f"Hillenbrand et al. 1995 (vowdata.dat), 12 vowels, {len(all_talkers)} talkers; "
            f"{dropped} of {n_tokens} tokens dropped for an unmeasurable formant (0); split "
            f"by talker, {len(test_talkers)} talkers held out, stratified by men/women/boys/"
            f"girls (seed {seed}); formants in Hz divided by their training maxima"
        ),
    )  # fmt: skip


register(
    "vowels7",
    "Hillenbrand 1995, 7 vowels of 48 women, 259 tokens, 12 formants, "
    "physics-aware-training split (210/49)",
    lambda r: load_vowels7(r.data_dir, speaker_split=False, seed=r.seed),
)
register(
    "vowels7:speaker",
    "the vowels7 tokens split by talker (~20 % of talkers held out, seeded)",
    lambda r: load_vowels7(r.data_dir, speaker_split=True, seed=r.seed),
)
register(
    "hillenbrand12",
    "Hillenbrand 1995, all 12 vowels of 139 talkers (1,597 measurable tokens), "
    "split by talker, seeded",
    lambda r: load_hillenbrand12(r.data_dir, seed=r.seed),
)

__all__ = [
    "FORMANT_FEATURES",
    "HILLENBRAND12_CLASSES",
    "HILLENBRAND_FILE",
    "VOWELS7_CLASSES",
    "VOWELS7_FILE",
    "load_hillenbrand12",
    "load_vowels7",
]
