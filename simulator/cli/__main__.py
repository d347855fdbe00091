"""`python -m simulator.cli` runs the `abftsim` command line."""

from simulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
