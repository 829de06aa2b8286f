"""`python -m hakutaku` is `hai`."""

from hakutaku.cli.main import app

app()
