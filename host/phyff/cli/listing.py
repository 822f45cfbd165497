"""Commands that list what phyff offers: datasets and media."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from phyff.cli.common import DATA_HELP, EXIT_OK, AddCommand, print_json

# ---- listing ------------------------------------------------------------------


def cmd_datasets(args: argparse.Namespace) -> int:
    from phyff.datasets import available_datasets, resolve_data_dir

    rows = available_datasets()
    folder, origin = resolve_data_dir(args.data)
    if args.json:
        print_json({"data_folder": str(folder), "data_folder_from": origin,
                    "datasets": [{"name": n, "description": d} for n, d in rows]})
    else:
        for name, desc in rows:
            print(f"{name:22s} {desc}")
        print(f"\ndata files are read from {folder} ({origin}); the vowel datasets need "
              f"vowels7/vowels7_pat_split.csv and hillenbrand1995/vowdata.dat there")
    return EXIT_OK


def medium_rows() -> list[dict[str, Any]]:
    """Every medium a URL may name (built-in, registered, installed plugin) with its
    channel counts and the URL keys its factory takes; a plugin that fails to load is
    listed with its error instead."""
    import inspect

    from phyff.media import available_media, factory_for, make_medium, medium_origin

    rows: list[dict[str, Any]] = []
    for name in available_media():
        origin = medium_origin(name)
        row: dict[str, Any] = {"name": name, "origin": origin}
        try:
            factory = factory_for(name)
            medium = make_medium(name, seed=0)
        except Exception as exc:  # a broken plugin is listed, not a crash of the listing
            rows.append({**row, "error": str(exc)})
            continue
        try:
            params = inspect.signature(factory).parameters.values()
        except (TypeError, ValueError):
            params = []  # type: ignore[assignment]
        keys = [p.name for p in params if p.name != "seed" and p.kind in (
            p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if any(p.kind is p.VAR_KEYWORD for p in params):
            keys.append("(any other key: the factory takes **options)")
        doc = (type(medium).__doc__ or factory.__doc__ or "").strip()
        rows.append({**row, "n_in": medium.n_in, "n_out": medium.n_out, "keys": keys,
                     "description": doc.splitlines()[0] if doc else ""})
    return rows


def cmd_media(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from phyff.emulator.device import BOARD_KEYS
    from phyff.emulator.shapes import DEFAULT_SHAPE_MEDIUM, SHAPES

    rows = medium_rows()
    board_keys = sorted(BOARD_KEYS)
    shapes = [{**asdict(s), "url": f"emu://{DEFAULT_SHAPE_MEDIUM}?seed=1&shape={s.name}"}
              for s in SHAPES.values()]
    if args.json:
        print_json({"media": rows, "board_keys": board_keys, "shapes": shapes})
        return EXIT_OK
    for r in rows:
        if "error" in r:
            print(f"{r['name']:10s} ({r['origin']}) cannot be used: {r['error']}")
            continue
        origin = "" if r["origin"] == "built-in" else f" ({r['origin']})"
        print(f"{r['name']:10s} {r['n_in']:4d} -> {r['n_out']:<4d} {r['description']}{origin}")
        print(f"{'':21s}URL keys: {', '.join(r['keys']) or 'none'}")
    print(f"\nevery emu:// URL also takes the board's keys: {', '.join(board_keys)} "
          f"(e.g. emu://acoustic?seed=1&n_in=24&n_out=24&noise=0.01); media of your own: "
          f"entry point group phyff.media (README, 'Emulated media')")
    print("\nboard shapes (shape=NAME emulates a real board's channels and converters; "
          "any medium, default circuit):")
    for s in SHAPES.values():
        print(f"  shape={s.name:7s} {s.describe()}")
    print(f"  e.g. --board 'emu://{DEFAULT_SHAPE_MEDIUM}?seed=1&shape=uno'")
    return EXIT_OK


def add_commands(add: AddCommand) -> None:
    """Register datasets and media."""
    p = add("datasets", cmd_datasets, "list the datasets phyff can load and the folder "
            "their files are read from")
    p.add_argument("--data", type=Path, help=DATA_HELP)
    add("media", cmd_media, "list the media an emu:// board can simulate (built-in and "
        "installed plugins) with the URL keys each takes")
