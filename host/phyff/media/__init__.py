"""Simulated physical media, and how to pick one (or plug in your own).

The emulated board and the medium server behind a QEMU-emulated board both
measure a medium through `Frontend` (the board's DAC and ADC conversions); the
medium itself only maps drive fractions to reading fractions (see `Medium`).

Built-in media, by name (``MEDIA``):

- ``acoustic``: reverberant room with nonlinear membranes, 20 -> 20;
- ``microwave``: cavity programmed by a 40-element binary metasurface, |S21| at 20 frequencies;
- ``optical``: phase-only modulator, random transmission matrix, camera, 64 -> 16;
- ``circuit``: resistor-diode network on a breadboard, 8 -> 8.

Your own medium: any importable callable ``factory(seed=..., **options)``
returning an object with ``name``, ``n_in``, ``n_out``, ``respond``, ``reset`` and
``perturb``; select it with ``make_medium("mypkg.mymodule:factory", seed=1, ...)``.
Deriving from `BaseMedium` gives seeding, noise, drift, gain calibration and
batch-split invariance for free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from phyff.media.acoustic import AcousticMedium
from phyff.media.base import BaseMedium, Medium, SlowDrift, check_medium
from phyff.media.circuit import CircuitMedium
from phyff.media.frontend import Frontend
from phyff.media.microwave import MicrowaveMedium
from phyff.media.optical import OpticalMedium

MEDIA: dict[str, Callable[..., Medium]] = {
    "acoustic": AcousticMedium,
    "microwave": MicrowaveMedium,
    "optical": OpticalMedium,
    "circuit": CircuitMedium,
}


def make_medium(spec: str, seed: int = 0, **options: object) -> Medium:
    """Build a medium from a registered name or a ``"pkg.module:factory"`` import path.

    The factory is called as ``factory(seed=seed, **options)``; the result is
    checked against the `Medium` protocol (TypeError naming what is missing).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"medium spec must be a non-empty string, got {spec!r}")
    if ":" not in spec:
        if spec not in MEDIA:
            raise ValueError(
                f"unknown medium {spec!r}; known media: {', '.join(sorted(MEDIA))} "
                "(or give an import path 'pkg.module:factory')"
            )
        factory: object = MEDIA[spec]
    else:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise ValueError(f"medium spec {spec!r} must look like 'pkg.module:factory'")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(
                f"medium spec {spec!r}: cannot import {module_name!r}: {exc}"
            ) from exc
        factory = module
        for part in attr.split("."):
            if not hasattr(factory, part):
                raise AttributeError(f"medium spec {spec!r}: {module_name!r} has no {attr!r}")
            factory = getattr(factory, part)
    if not callable(factory):
        raise TypeError(f"medium spec {spec!r} does not name a callable factory")
    medium = factory(seed=seed, **options)
    check_medium(medium, origin=f"medium {spec!r}")
    return medium  # type: ignore[no-any-return]


__all__ = [
    "MEDIA",
    "AcousticMedium",
    "BaseMedium",
    "CircuitMedium",
    "Frontend",
    "Medium",
    "MicrowaveMedium",
    "OpticalMedium",
    "SlowDrift",
    "check_medium",
    "make_medium",
]
