"""Datasets for phyff: one registry, one loader, one normalisation convention, one fingerprint.

Why this package exists: a physical network is only comparable to the paper (and to
itself across runs) when everyone trains on exactly the same tokens, split and
scaling. So every dataset comes out of :func:`load_dataset` in one shape
(:class:`Dataset`: float64 features, int64 labels, a fixed train/test split) and
carries a :meth:`Dataset.fingerprint` that a saved model records.

Layout: :mod:`~phyff.datasets.registry` holds the one list of names
(:func:`available_datasets`, :func:`load_dataset` and the unknown-name error derive
from it); :mod:`~phyff.datasets.base` the Dataset record, validation, splitting and
scaling rules; one module per source registers its names:

* :mod:`~phyff.datasets.vowels` -- ``vowels7``, ``vowels7:speaker``, ``hillenbrand12``
  (Hillenbrand et al. 1995, the physics-aware-training split);
* :mod:`~phyff.datasets.digits` -- ``digits`` (scikit-learn 8x8);
* :mod:`~phyff.datasets.fashion` -- ``fashion-mnist[-14|-7][:N]``;
* :mod:`~phyff.datasets.synthetic` -- ``interference[:N]`` (generated in code);
* :mod:`~phyff.datasets.userfiles` -- ``csv:PATH[#label=COL]``, ``npz:PATH``,
  ``idx:IMAGES,LABELS`` (the user's own files, read defensively).

Where files are looked for: the ``data_dir`` argument, else the ``PHYFF_DATA_DIR``
environment variable (the CLI's ``--data PATH`` sets the former), else the user's
data folder (:func:`default_data_dir`: ``~/.local/share/phyff`` on Linux). Fashion-MNIST
is also found in Debian's system location (package ``dataset-fashion-mnist``).

Normalisation (why: the paper feeds features of a known range to the medium, and
fitting any statistic on test data would leak it into training):

* images: fixed scaling, nothing fitted: ``uint8`` pixels / 255, digits / 16;
* vowels: each formant divided by its maximum over the *training split only*;
  training values lie in [0, 1] and test values may exceed 1 slightly;
* the user's other data (CSV, non-``uint8`` NPZ/IDX): max-abs fitted on the training
  split with an outlier guard, clipped to [-1, 1], with a :class:`DatasetWarning` for
  constant columns, outlier columns and far-out test values (see
  :mod:`phyff.datasets.base` for the scaler and why).

The returned arrays are new, C-contiguous and read-only: the fingerprint names the
data a model was trained on, so nothing downstream may change it in place (copy
first, e.g. ``ds.x_train.copy()``, before overlaying labels).

Adding a dataset: one module with a loader and a ``register(...)`` call, imported
below (the import order is the order `phyff datasets` lists them in).
"""

from __future__ import annotations

# Each source module registers its names on import; the order is the listing order.
# isort: off
from phyff.datasets import vowels as vowels
from phyff.datasets import digits as digits
from phyff.datasets import fashion as fashion
from phyff.datasets import synthetic as synthetic
from phyff.datasets import userfiles as userfiles

# isort: on
from phyff.datasets.base import (
    DATA_DIR_ENV,
    MAX_CLASSES,
    TEST_FRACTION,
    Dataset,
    DatasetError,
    DatasetWarning,
    default_data_dir,
    resolve_data_dir,
)
from phyff.datasets.fashion import FASHION_MNIST_SYSTEM_DIR
from phyff.datasets.idx import read_idx
from phyff.datasets.registry import (
    DatasetRequest,
    DatasetSource,
    available_datasets,
    load_dataset,
    register,
)

__all__ = [
    "DATA_DIR_ENV",
    "FASHION_MNIST_SYSTEM_DIR",
    "MAX_CLASSES",
    "TEST_FRACTION",
    "Dataset",
    "DatasetError",
    "DatasetRequest",
    "DatasetSource",
    "DatasetWarning",
    "available_datasets",
    "default_data_dir",
    "load_dataset",
    "read_idx",
    "register",
    "resolve_data_dir",
]
