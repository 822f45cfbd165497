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
import re
import types
import typing
from dataclasses import Field, fields
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


# A help text's own "(default: WHAT; more)" names what an unset value (None) means.
_NONE_MEANS = re.compile(r"\s*\(default: ([^;)]*)(?:; ([^)]*))?\)")


def _shown(value: Any, none_means: str) -> str:
    if value is None:
        return none_means
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def help_with_default(text: str, by_preset: dict[str, Any]) -> str:
    """A setting's help with the value each preset gives it, once.

    The run starts from a preset (the board medium's, or --preset), so the
    value that runs is the preset's: one value when every preset agrees,
    else each preset's.
    """
    found = _NONE_MEANS.search(text)
    none_means = "none"
    if found:
        none_means = found.group(1).strip()
        rest = f" ({found.group(2).strip()})" if found.group(2) else ""
        text = text[:found.start()] + rest + text[found.end():]
    shown = {preset: _shown(value, none_means) for preset, value in by_preset.items()}
    if len(set(shown.values())) == 1:
        return f"{text} (default: {next(iter(shown.values()))})"
    return f"{text} (default from the preset: " + ", ".join(
        f"{preset} {value}" for preset, value in shown.items()) + ")"


def preset_values() -> dict[str, dict[str, Any]]:
    """Every setting's value in every preset, by field name."""
    return {name: {**TrainConfig.from_preset(name).flat(),
                   "n_blocks": TrainConfig.from_preset(name).n_blocks}
            for name in sorted(PRESETS)}


def add_setting_flags(p: argparse.ArgumentParser) -> None:
    """One flag per training setting, plus --preset and --blocks; each help shows the
    value that will run (the preset's)."""
    values = preset_values()
    group = p.add_argument_group(
        "training settings (each starts at the preset's value: --preset, else the one the "
        "board's medium names, else acoustic)")
    group.add_argument("--preset", choices=sorted(PRESETS),
                       help="the paper's settings to start from (default: the one the board's "
                            "medium names; real boards and media without one: acoustic)")
    group.add_argument("--blocks", type=int, dest="n_blocks", help=help_with_default(
        "number of physical blocks (one encoder for all, or one each)",
        {preset: v["n_blocks"] for preset, v in values.items()}))
    for f, hint in _settings():
        name = f.metadata.get("flag") or f.name
        opt = "--" + name.replace("_", "-")
        text = help_with_default(f.metadata["help"],
                                 {preset: v[f.name] for preset, v in values.items()})
        parse, is_bool = _parser_for(hint)
        if is_bool:
            group.add_argument(opt, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
        else:
            group.add_argument(opt, dest=f.name, type=parse, default=None,
                               choices=f.metadata.get("choices"), metavar=name.upper(),
                               help=text)


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
