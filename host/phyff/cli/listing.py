"""Commands that list what phyff offers: datasets and media."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def cmd_media(args: argparse.Namespace) -> int:
    from phyff.media import MEDIA, make_medium

    rows = []
    for name in MEDIA:
        m = make_medium(name, seed=0)
        doc = (type(m).__doc__ or "").strip().splitlines()[0] if type(m).__doc__ else ""
        rows.append({"name": name, "n_in": m.n_in, "n_out": m.n_out, "description": doc})
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:10s} {r['n_in']:4d} -> {r['n_out']:<4d} {r['description']}")
    return EXIT_OK


def add_commands(add: AddCommand) -> None:
    """Register datasets and media."""
    p = add("datasets", cmd_datasets, "list the datasets phyff can load and the folder "
            "their files are read from")
    p.add_argument("--data", type=Path, help=DATA_HELP)
    add("media", cmd_media, "list the simulated media of the emulated board")
