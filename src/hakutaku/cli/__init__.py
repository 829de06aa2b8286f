"""The `hai` command line (Typer)."""
