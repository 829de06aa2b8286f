"""`hai deploy ...`: models served by worker jobs (create, list, show, scale, update, logs,
delete)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hakutaku.cli.common import client, money, platform_errors, print_json, print_table

deploy = typer.Typer(
    help="Deploy models as worker jobs that the platform scales and updates.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WorkerOpt = Annotated[
    str | None, typer.Option("--worker", help="file.py:Class (made absolute here).")
]
ModuleOpt = Annotated[str | None, typer.Option("--module", help="package.module:Class.")]
HubOpt = Annotated[
    str | None, typer.Option("--hub", help="ARCH:VERSION: serve hub weights' predict.")
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--openai-server",
        help="Command of an OpenAI-compatible server ({port}: the port it must listen on).",
    ),
]
PartitionOpt = Annotated[str | None, typer.Option("--partition", "-p")]
QosOpt = Annotated[str | None, typer.Option("--qos")]
GpusOpt = Annotated[str | None, typer.Option("--gpus", help="[TYPE:]N cards per replica.")]
CpusOpt = Annotated[int | None, typer.Option("--cpus", min=1, help="CPUs per replica.")]
MemOpt = Annotated[str | None, typer.Option("--mem", help="Memory per replica, e.g. 8G.")]
TimeOpt = Annotated[str | None, typer.Option("--time", help="Each replica job's time limit.")]

COLUMNS = ("name", "kind", "ready", "desired", "min_replicas", "max_replicas", "generation",
           "state", "message")  # fmt: skip


def _absolute(worker: str | None) -> str | None:
    """`file.py:Class` with the file made absolute, since the job runs elsewhere."""
    if worker is None:
        return None
    path, colon, cls = worker.rpartition(":")
    if not colon:
        return worker  # the server says what is wrong with it
    return f"{Path(path).expanduser().resolve()}:{cls}"


@deploy.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The model's name (callers use it).")],
    worker: WorkerOpt = None,
    module: ModuleOpt = None,
    hub: HubOpt = None,
    openai_server: ServerOpt = None,
    partition: PartitionOpt = None,
    qos: QosOpt = None,
    account: Annotated[str | None, typer.Option("--account", help="Group billed.")] = None,
    gpus: GpusOpt = None,
    cpus: CpusOpt = None,
    mem: MemOpt = None,
    time: TimeOpt = None,
    min_replicas: Annotated[int, typer.Option("--min", min=0)] = 1,
    max_replicas: Annotated[int | None, typer.Option("--max", min=1)] = None,
    target_inflight: Annotated[
        float, typer.Option("--target-inflight", help="Calls in flight per replica to aim at.")
    ] = 4.0,
    idle_timeout: Annotated[
        str, typer.Option("--idle-timeout", help="Scale down after this long idle (15m).")
    ] = "15m",
    as_json: JsonOpt = False,
) -> None:
    """Deploy NAME: its replicas are worker jobs on the partition asked for."""
    try:
        with platform_errors():
            d = client().deployments.create(
                name,
                worker=_absolute(worker),
                module=module,
                hub=hub,
                openai_server=openai_server,
                partition=partition,
                qos=qos,
                account=account,
                gpus=gpus,
                cpus=cpus or 1,
                mem=mem or "2G",
                time=time,
                min_replicas=min_replicas,
                max_replicas=max_replicas or max(min_replicas, 1),
                target_inflight=target_inflight,
                idle_timeout=idle_timeout,
            )
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        print_json(d)
        return
    typer.echo(
        f"deployment {d['name']}: {d['min_replicas']}–{d['max_replicas']} replicas "
        f"({d['kind']} {d['target']}); follow it with `hai deploy show {d['name']}`"
    )


@deploy.command("list")
def listing(as_json: JsonOpt = False) -> None:
    """Your deployments (an admin's: all)."""
    with platform_errors():
        rows = client().deployments.list()
    print_json(rows) if as_json else print_table(rows, COLUMNS)


@deploy.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """A deployment, its replicas, and what it has served and cost."""
    with platform_errors():
        d = client().deployments.get(name)
    if as_json:
        print_json(d)
        return
    for key in ("name", "owner", "kind", "target", "partition", "gpus", "cpus", "mem", "state",
                "generation", "message"):  # fmt: skip
        typer.echo(f"{key:>12}: {d[key]}")
    typer.echo(
        f"{'replicas':>12}: {d['ready']} ready, {d['starting']} starting, {d['draining']} "
        f"draining; wanted {d['desired']} (min {d['min_replicas']}, max {d['max_replicas']})"
    )
    usage = d["usage"]
    per_1k = money(usage["cost_per_1k_calls"])
    cost = f"{money(usage['cost'])} {usage['currency'] or ''}".strip()
    typer.echo(f"{'calls':>12}: {usage['calls']} served; cost {cost}"
               + (f", {per_1k} per 1 000 calls" if per_1k is not None else ""))  # fmt: skip
    for resource, quantity in usage["resources"].items():
        typer.echo(f"{'':>12}  {resource}: {quantity:.4f}")
    typer.echo("")
    print_table(
        d["replicas"],
        ("job_id", "generation", "state", "job_state", "node", "worker", "inflight", "ended_why"),
    )


@deploy.command("scale")
def scale(
    name: str,
    replicas: Annotated[int | None, typer.Argument(help="Exactly this many (min = max).")] = None,
    min_replicas: Annotated[int | None, typer.Option("--min", min=0)] = None,
    max_replicas: Annotated[int | None, typer.Option("--max", min=1)] = None,
) -> None:
    """Change the replica bounds: `hai deploy scale NAME 3` or `--min 0 --max 4`."""
    if replicas is not None:
        min_replicas = max_replicas = replicas
    with platform_errors():
        d = client().deployments.scale(name, min_replicas=min_replicas, max_replicas=max_replicas)
    typer.echo(f"deployment {name}: {d['min_replicas']}–{d['max_replicas']} replicas")


@deploy.command("update")
def update(
    name: str,
    worker: WorkerOpt = None,
    module: ModuleOpt = None,
    hub: HubOpt = None,
    openai_server: ServerOpt = None,
    partition: PartitionOpt = None,
    qos: QosOpt = None,
    gpus: GpusOpt = None,
    cpus: CpusOpt = None,
    mem: MemOpt = None,
    time: TimeOpt = None,
) -> None:
    """Roll out a new version: new replicas first, the old drained once they answer."""
    with platform_errors():
        d = client().deployments.update(
            name,
            worker=_absolute(worker),
            module=module,
            hub=hub,
            openai_server=openai_server,
            partition=partition,
            qos=qos,
            gpus=gpus,
            cpus=cpus,
            mem=mem,
            time=time,
        )
    typer.echo(f"deployment {name}: rolling out version {d['generation']}")


@deploy.command("logs")
def logs(name: str) -> None:
    """The end of each live replica's log."""
    with platform_errors():
        rows = client().deployments.logs(name)
    for row in rows:
        typer.echo(f"==> replica job {row['job_id']} ({row['state']}) <==")
        typer.echo(row["log"].rstrip())


@deploy.command("delete")
def delete(name: str) -> None:
    """Drain and stop every replica, then forget the deployment."""
    with platform_errors():
        client().deployments.delete(name)
    typer.echo(f"deployment {name}: deleting (its replicas drain, then stop)")
