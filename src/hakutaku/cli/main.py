"""`hai`: the command line. Each command parses, calls the SDK (or starts a process), prints."""

from __future__ import annotations

import typer

from hakutaku.cli.apps import apps
from hakutaku.cli.billing import contributions, prices
from hakutaku.cli.call import call
from hakutaku.cli.deploy import deploy
from hakutaku.cli.files import files
from hakutaku.cli.hep import hep
from hakutaku.cli.hep_models import evaluate, train
from hakutaku.cli.hub import hub
from hakutaku.cli.identity import keys, users
from hakutaku.cli.jobs import compute, jobs
from hakutaku.cli.models import models
from hakutaku.cli.serve import serve
from hakutaku.cli.up import up
from hakutaku.cli.usage import usage
from hakutaku.cli.worker import worker
from hakutaku.cli.workflows import workflows

app = typer.Typer(
    name="hai",
    help="Hakutaku (白泽): an open AI platform for high-energy physics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(up)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("call")(call)
app.add_typer(usage, name="usage")
app.add_typer(users, name="users")
app.add_typer(keys, name="keys")
app.add_typer(models, name="models")
app.add_typer(jobs, name="jobs")
app.add_typer(apps, name="apps")
app.add_typer(deploy, name="deploy")
app.add_typer(workflows, name="workflows")
app.add_typer(compute, name="compute")
app.add_typer(files, name="files")
app.add_typer(prices, name="prices")
app.add_typer(contributions, name="contributions")
hep.command("train")(train)
hep.command("evaluate")(evaluate)
app.add_typer(hep, name="hep")
app.add_typer(hub, name="hub")
