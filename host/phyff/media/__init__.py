"""Simulated physical media, and how to pick one (or plug in your own).

The emulated board and the medium server behind a QEMU-emulated board both
measure a medium through `Frontend` (the board's DAC and ADC conversions); the
medium itself only maps drive fractions to reading fractions (see `Medium`).

Built-in media, by name (``MEDIA``):

- ``acoustic``: reverberant room with nonlinear membranes, 20 -> 20;
- ``microwave``: cavity programmed by a 40-element binary metasurface, |S21| at 20 frequencies;
- ``optical``: phase-only modulator, random transmission matrix, camera, 64 -> 16;
- ``circuit``: resistor-diode network on a breadboard, 8 -> 8.

Your own medium: any callable ``factory(seed=..., **options)`` returning an
object with ``name``, ``n_in``, ``n_out``, ``respond``, ``reset`` and
``perturb``. A URL selects media by registered name only (see
`phyff.media.registry`): declare the factory in the entry point group
``phyff.media``, or call ``register_medium("name", factory)``, or pass the
factory itself (``make_medium(factory, seed=1)``); the command line takes an
import path with ``phyff emulate --medium pkg.module:factory``.
Deriving from `BaseMedium` gives seeding, noise, drift, gain calibration and
batch-split invariance for free.
"""

from __future__ import annotations

from phyff.media.acoustic import AcousticMedium
from phyff.media.base import BaseMedium, Medium, SlowDrift, check_medium
from phyff.media.circuit import CircuitMedium
from phyff.media.frontend import Frontend
from phyff.media.microwave import MicrowaveMedium
from phyff.media.optical import OpticalMedium
from phyff.media.registry import (
    BUILTIN,
    available_media,
    factory_for,
    load_factory,
    make_medium,
    medium_origin,
    register_medium,
    unregister_medium,
)

MEDIA = BUILTIN  # the built-in media by name (kept under its old name)

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
    "available_media",
    "check_medium",
    "factory_for",
    "load_factory",
    "make_medium",
    "medium_origin",
    "register_medium",
    "unregister_medium",
]
