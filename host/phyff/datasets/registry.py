"""The one registry of dataset names: what `phyff datasets` lists and what loads.

Why a registry: the names, the listing and the dispatch are one list, so they
cannot drift apart. Each source module calls :func:`register` once per name (or
name pattern) with its description and loader; :func:`available_datasets`,
:func:`load_dataset` and the unknown-name error are all derived from the
registered :class:`DatasetSource` records, in registration order.

Adding a dataset: write a module with a loader ``(DatasetRequest) -> Dataset`` and
one ``register(...)`` call, and import the module in ``phyff/datasets/__init__.py``
(the import order is the listing order).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phyff.datasets.base import Dataset, DatasetError, shorten

__all__ = [
    "DatasetRequest",
    "DatasetSource",
    "available_datasets",
    "load_dataset",
    "register",
    "sources",
]

MAX_NAME_CHARS = 4096
"""Longest dataset name (paths included) accepted; longer text is not a name."""


@dataclass(frozen=True)
class DatasetRequest:
    """What a loader gets: the name as given, its pattern match, the data folder, the seed."""

    name: str
    match: re.Match[str]
    """The full match of the source's pattern against ``name`` (named groups for parameters)."""
    data_dir: str | os.PathLike[str] | None
    seed: int


Loader = Callable[[DatasetRequest], Dataset]


@dataclass(frozen=True)
class DatasetSource:
    """One registered name or name pattern.

    ``listing`` is what `phyff datasets` shows (``vowels7``, ``csv:PATH[#label=COL]``);
    ``pattern`` is the regular expression a requested name must match in full.
    """

    listing: str
    description: str
    loader: Loader
    pattern: re.Pattern[str]
    is_pattern: bool
    """True when the listing describes a family of names rather than one name."""


_SOURCES: list[DatasetSource] = []


def register(
    listing: str, description: str, loader: Loader, *, pattern: str | None = None
) -> DatasetSource:
    """Add a dataset source; ``pattern`` (a regex, matched in full) defaults to ``listing``.

    Raises ValueError for an empty or duplicate listing or a multi-line description:
    both are shown one line per source by `phyff datasets`.
    """
    if not listing.strip() or listing != listing.strip():
        raise ValueError(f"dataset listing must be non-empty without outer spaces: {listing!r}")
    if not description.strip() or "\n" in description:
        raise ValueError(f"dataset {listing!r}: the description must be one non-empty line")
    if any(s.listing == listing for s in _SOURCES):
        raise ValueError(f"dataset {listing!r} is already registered")
    compiled = re.compile(pattern if pattern is not None else re.escape(listing), re.DOTALL)
    source = DatasetSource(listing, description, loader, compiled, pattern is not None)
    _SOURCES.append(source)
    return source


def sources() -> tuple[DatasetSource, ...]:
    """Every registered source, in registration (listing) order."""
    return tuple(_SOURCES)


def available_datasets() -> list[tuple[str, str]]:
    """(name, one-line description) of every dataset name, for the CLI's help."""
    return [(s.listing, s.description) for s in _SOURCES]


def find_source(name: str) -> tuple[DatasetSource, re.Match[str]]:
    """The first source whose pattern matches ``name`` in full, or a DatasetError."""
    for source in _SOURCES:
        match = source.pattern.fullmatch(name)
        if match is not None:
            return source, match
    exact = [s.listing for s in _SOURCES if not s.is_pattern]
    close = difflib.get_close_matches(name, exact, n=1) if len(name) < 100 else []
    known = ", ".join(s.listing for s in _SOURCES)
    raise DatasetError(
        f"unknown dataset {shorten(name)}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + f"; known names: {known} (`phyff datasets` describes them)"
    )


def load_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> Dataset:
    """Load the dataset called ``name`` (see :func:`available_datasets`).

    ``data_dir`` is the folder holding the data files (the CLI's ``--data``); when
    None, the ``PHYFF_DATA_DIR`` environment variable is used. ``seed`` chooses the
    split wherever the data bring none of their own (speaker splits, digits, user
    files without a split) and Fashion-MNIST subsets; the same seed always gives the
    same split. ``vowels7`` ignores it (its split is fixed by the file).

    User files (relative paths are relative to the working directory):

    * ``csv:PATH`` -- header row required; the label column is ``label`` unless
      ``csv:PATH#label=COL``. Labels (numbers or text) become classes 0..C-1 in the
      sorted order of the distinct values present (integer labels 0..C-1 keep their
      meaning), at most MAX_CLASSES of them. Every other column holding numbers is a
      feature; pure text columns (ids, file names) are ignored. A ``split`` column
      with values ``train``/``test`` is honoured, otherwise 20 % of each class is
      held out (seeded).
    * ``npz:PATH`` -- arrays ``x_train, y_train, x_test, y_test`` or ``x, y`` (split
      as for CSV); optional ``class_names`` (numeric labels then index them) and
      ``feature_names``. 3-D ``x`` arrays are images (samples, height, width) and are
      flattened.
    * ``idx:IMAGES_PATH,LABELS_PATH`` -- IDX files (optionally gzipped), split as
      for CSV.

    ``uint8`` user data are treated as pixels (/255); anything else goes through the
    outlier-guarded scaler of :mod:`phyff.datasets.base` (with a DatasetWarning for
    constant or outlier columns).

    Raises:
        DatasetError: unknown name, missing or malformed file, or data that fail
            validation; the message says what and where.
    """
    if not isinstance(name, str):
        raise DatasetError(f"a dataset name must be a string, got {type(name).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    name = name.strip()
    if not name:
        raise DatasetError("no dataset name given; `phyff datasets` lists the names")
    if len(name) > MAX_NAME_CHARS:
        raise DatasetError(
            f"dataset name of {len(name):,} characters ({shorten(name, 60)}); names and paths "
            f"are at most {MAX_NAME_CHARS:,} characters"
        )
    source, match = find_source(name)
    return source.loader(DatasetRequest(name=name, match=match, data_dir=data_dir, seed=int(seed)))
