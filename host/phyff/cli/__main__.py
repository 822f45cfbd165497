"""`python -m phyff.cli` runs the phyff command."""

from phyff.cli.main import main

raise SystemExit(main())
