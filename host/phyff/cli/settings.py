"""`phyff train`'s hyperparameter flags, derived from the configuration dataclasses.

Each field of `TrainConfig` and `ModelConfig` declared with
`phyff.phyll.config.setting` becomes one flag: its name (or the metadata's
`flag`), its type (int, float, str, bool as --x/--no-x, optional values,
comma-separated tuples), its choices and its help text. Nothing is listed
twice, so a new hyperparameter reaches the command line with no edit here.
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from dataclasses import MISSING, Field, fields
from typing import Any, get_args, get_origin, get_type_hints

from phyff.phyll.config import ModelConfig
from phyff.training.config import PRESETS, TrainConfig

_CONFIGS = (TrainConfig, ModelConfig)


def _settings() -> list[tuple[Field[Any], Any]]:
    out = []
    for cls in _CONFIGS:
        hints = get_type_hints(cls)
        out += [(f, hints[f.name]) for f in fields(cls) if f.metadata.get("cli")]
    return out


def _finite(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        return value

    parse.__name__ = kind.__name__
    return parse


def _parser_for(hint: Any) -> tuple[Any, bool]:
    """(str -> value function, is_bool) for a field's type hint."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _parser_for(inner[0])
    if hint is bool:
        return None, True
    if origin is tuple:
        item = _finite(get_args(hint)[0])

        def parse_tuple(text: str) -> tuple[Any, ...]:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            if not parts:
                raise argparse.ArgumentTypeError("give at least one value")
            return tuple(item(p) for p in parts)

        return parse_tuple, False
    if hint in (int, float):
        return _finite(hint), False
    return str, False


def add_setting_flags(p: argparse.ArgumentParser) -> None:
    """One flag per training setting, plus --preset and --blocks."""
    group = p.add_argument_group("training settings (default: the preset's)")
    group.add_argument("--preset", choices=sorted(PRESETS),
                       help="the paper's settings to start from (default: the board medium's)")
    group.add_argument("--blocks", type=int, dest="n_blocks",
                       help="number of physical blocks (one encoder for all, or one each)")
    for f, hint in _settings():
        name = f.metadata.get("flag") or f.name
        opt = "--" + name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        text = f.metadata["help"]
        if isinstance(default, tuple):
            shown = ",".join(str(v) for v in default)
        else:
            shown = "none" if default is None else str(default)
        parse, is_bool = _parser_for(hint)
        if is_bool:
            group.add_argument(opt, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"{text} (default {shown})")
        else:
            group.add_argument(opt, dest=f.name, type=parse, default=None,
                               choices=f.metadata.get("choices"), metavar=name.upper(),
                               help=f"{text} (default {shown})")


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by field name (unset ones left out)."""
    out: dict[str, Any] = {}
    for f, _ in _settings():
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = value
    if getattr(args, "n_blocks", None) is not None:
        out["n_blocks"] = args.n_blocks
    return out


def build_config(args: argparse.Namespace, default_preset: str) -> TrainConfig:
    """The preset (the flag's, else the board medium's) with the flags applied."""
    preset = args.preset or default_preset
    return TrainConfig.from_preset(preset, **settings_from_args(args))
