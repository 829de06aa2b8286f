"""`hai prices`, `hai contributions`: the price table and contributed hardware (admins)."""

from __future__ import annotations

import typer

prices = typer.Typer(help="The price table per resource.", no_args_is_help=True)
contributions = typer.Typer(help="Hardware contributed by groups, as credit.", no_args_is_help=True)
