"""Commands that list what phyff offers: datasets and media."""

from __future__ import annotations

import argparse

from phyff.cli.common import EXIT_OK, AddCommand, print_json

# ---- listing ------------------------------------------------------------------


def cmd_datasets(args: argparse.Namespace) -> int:
    from phyff.datasets import available_datasets

    rows = available_datasets()
    if args.json:
        print_json([{"name": n, "description": d} for n, d in rows])
    else:
        for name, desc in rows:
            print(f"{name:22s} {desc}")
    return EXIT_OK


def cmd_media(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from phyff.emulator.shapes import DEFAULT_SHAPE_MEDIUM, SHAPES
    from phyff.media import MEDIA, make_medium

    rows = []
    for name in MEDIA:
        m = make_medium(name, seed=0)
        doc = (type(m).__doc__ or "").strip().splitlines()[0] if type(m).__doc__ else ""
        rows.append({"name": name, "n_in": m.n_in, "n_out": m.n_out, "description": doc})
    shapes = [{**asdict(s), "url": f"emu://{DEFAULT_SHAPE_MEDIUM}?seed=1&shape={s.name}"}
              for s in SHAPES.values()]
    if args.json:
        print_json({"media": rows, "shapes": shapes})
    else:
        for r in rows:
            print(f"{r['name']:10s} {r['n_in']:4d} -> {r['n_out']:<4d} {r['description']}")
        print("\nboard shapes (emulate a real board's channels and converters; "
              "any medium, default circuit):")
        for s in SHAPES.values():
            print(f"  shape={s.name:7s} {s.describe()}")
        print(f"  e.g. --board 'emu://{DEFAULT_SHAPE_MEDIUM}?seed=1&shape=uno'")
    return EXIT_OK


def add_commands(add: AddCommand) -> None:
    """Register datasets and media."""
    add("datasets", cmd_datasets, "list the datasets phyff can load")
    add("media", cmd_media, "list the simulated media of the emulated board")
