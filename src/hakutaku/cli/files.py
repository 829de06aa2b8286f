"""`hai files`: list, upload, download and remove files in your home or the public area."""

from __future__ import annotations

import typer

files = typer.Typer(help="Your storage home and the public data area.", no_args_is_help=True)
