"""Which media a name may select: built-ins, registered plugins, nothing else.

A medium name arrives in a board URL (``emu://acoustic?seed=1``), and URLs
come from configuration files, notebooks and other people. So a name never
imports code. Rules:

1. A name resolves, in this order, to a built-in medium (``BUILTIN``), a
   factory registered in this process with :func:`register_medium`, or an
   installed package's entry point in the group ``phyff.media`` (the entry
   point's name is the medium name). Anything else is refused with the list
   of known names.
2. An import path ``pkg.module:factory`` is code, so it is accepted only
   where code is meant: the command line (``phyff emulate --medium
   pkg.module:factory``, which registers it under that path for the process)
   and the Python API (:func:`load_factory`, :func:`register_medium`, or a
   factory passed directly). Never from a URL string.
3. A factory is called as ``factory(seed=seed, **options)`` and what it
   returns must satisfy the ``Medium`` protocol (``check_medium``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from phyff.media.acoustic import AcousticMedium
from phyff.media.base import Medium, check_medium
from phyff.media.circuit import CircuitMedium
from phyff.media.microwave import MicrowaveMedium
from phyff.media.optical import OpticalMedium

ENTRY_POINT_GROUP = "phyff.media"

Factory = Callable[..., Medium]

BUILTIN: dict[str, Factory] = {
    "acoustic": AcousticMedium,
    "microwave": MicrowaveMedium,
    "optical": OpticalMedium,
    "circuit": CircuitMedium,
}

_registered: dict[str, Factory] = {}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
                          r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

HOW_TO_ADD = (
    "a medium of your own is registered, never imported from a URL: install a package that "
    f"declares it in the entry point group '{ENTRY_POINT_GROUP}', or run "
    "`phyff emulate --medium pkg.module:factory`, or call "
    "phyff.media.register_medium('name', factory) in Python"
)


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_media() -> list[str]:
    """Every name a URL may select: built-ins, registered, installed plugins."""
    return sorted(set(BUILTIN) | set(_registered) | set(_entry_points()))


def medium_origin(name: str) -> str:
    """Where a name from `available_media` comes from: "built-in", "registered" (in this
    process) or "plugin MODULE:FACTORY" (an installed entry point)."""
    if name in BUILTIN:
        return "built-in"
    if name in _registered:
        return "registered"
    ep = _entry_points().get(name)
    return f"plugin {ep.value}" if ep is not None else "unknown"


def load_factory(path: str) -> Factory:
    """Import ``pkg.module:factory`` (code named on purpose: command line or Python).

    Raises ValueError naming what is wrong (form, module, attribute, not
    callable), so the CLI reports it as bad input.
    """
    if not isinstance(path, str) or not _IMPORT_PATH.fullmatch(path):
        raise ValueError(f"medium import path {path!r} must look like 'pkg.module:factory'")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"medium {path!r}: cannot import {module_name!r}: {exc}") from exc
    factory: Any = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise ValueError(f"medium {path!r}: {module_name!r} has no {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise ValueError(f"medium {path!r} does not name a callable factory")
    return factory


def register_medium(name: str, factory: Factory | str) -> None:
    """Make ``emu://NAME`` select ``factory`` in this process.

    ``factory`` is a callable or an import path ``pkg.module:factory`` (loaded
    now, so a mistake shows here). Built-in names cannot be replaced: a URL
    naming ``acoustic`` always means the built-in acoustic medium.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"medium name {name!r}: use letters, digits, '_', '.', ':' or '-', "
                         f"starting with a letter (at most 128 characters)")
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in medium and cannot be replaced; register "
                         f"yours under another name")
    if isinstance(factory, str):
        factory = load_factory(factory)
    if not callable(factory):
        raise TypeError(f"register_medium({name!r}, ...) needs a callable factory, "
                        f"got {type(factory).__name__}")
    _registered[name] = factory


def unregister_medium(name: str) -> None:
    """Forget a medium registered with :func:`register_medium` (no error if absent)."""
    _registered.pop(name, None)


def factory_for(name: str) -> Factory:
    """The factory a medium name selects (rule 1), or ValueError listing the names."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a medium name must be a non-empty string, got {name!r}")
    if name in BUILTIN:
        return BUILTIN[name]
    if name in _registered:
        return _registered[name]
    ep = _entry_points().get(name)
    if ep is not None:
        try:
            factory = ep.load()
        except Exception as exc:  # a broken plugin must not look like a phyff crash
            raise ValueError(f"medium {name!r}: its plugin ({ep.value}) failed to load: {exc}"
                             ) from exc
        if not callable(factory):
            raise ValueError(f"medium {name!r}: its plugin ({ep.value}) is not callable")
        return factory
    known = ", ".join(available_media())
    if ":" in name:
        raise ValueError(f"unknown medium {name!r}: an import path in a URL is not followed "
                         f"(known media: {known}); {HOW_TO_ADD}")
    raise ValueError(f"unknown medium {name!r}; known media: {known}; {HOW_TO_ADD}")


def make_medium(spec: str | Factory, seed: int = 0, **options: object) -> Medium:
    """Build a medium from a name (rule 1) or a factory passed by Python code.

    The factory is called as ``factory(seed=seed, **options)``; the result is
    checked against the `Medium` protocol (TypeError naming what is missing).
    """
    if callable(spec):
        factory, origin = spec, getattr(spec, "__qualname__", repr(spec))
    else:
        factory, origin = factory_for(spec), spec
    try:
        medium = factory(seed=seed, **options)
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        given = ", ".join(sorted(options)) or "none"
        raise ValueError(f"medium {origin!r} refused its options ({given}): {exc}. The keys "
                         f"of an emu:// URL other than the board's go to the medium, so "
                         f"check their spelling (the medium's class documents what it "
                         f"takes)") from exc
    check_medium(medium, origin=f"medium {origin!r}")
    return medium
