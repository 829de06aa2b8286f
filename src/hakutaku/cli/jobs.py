"""`hai jobs` and `hai compute`: batch jobs, partitions and QOS."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table
from hakutaku.storage.quota import format_size

jobs = typer.Typer(help="Batch jobs on the local executor or Slurm.", no_args_is_help=True)
compute = typer.Typer(help="Partitions, QOS and accelerators.", no_args_is_help=True)
policy = typer.Typer(help="The whole policy: show it, or apply a TOML file (admins).")
compute.add_typer(policy, name="policy")

JOB_COLUMNS = ("id", "user", "name", "partition", "qos", "state", "exit_code", "reason")


@jobs.command("submit")
def submit(
    command: Annotated[list[str] | None, typer.Argument(help="The command, after `--`.")] = None,
    script: Annotated[Path | None, typer.Option(help="Run this bash script instead.")] = None,
    partition: Annotated[str | None, typer.Option("--partition", "-p")] = None,
    qos: Annotated[str | None, typer.Option("--qos", "-q")] = None,
    account: Annotated[str | None, typer.Option(help="Group billed.")] = None,
    cpus: Annotated[int, typer.Option("--cpus", "-c")] = 1,
    mem: Annotated[str, typer.Option(help="Memory, e.g. 4G.")] = "1G",
    gpus: Annotated[str | None, typer.Option(help="Cards: N or TYPE:N (e.g. a800:2).")] = None,
    time: Annotated[str | None, typer.Option("--time", "-t", help="e.g. 1:00:00.")] = None,
    name: Annotated[str, typer.Option("--name", "-J")] = "",
    workdir: Annotated[str | None, typer.Option(help="Default: your storage home.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE; repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job's record.")] = False,
) -> None:
    """Submit a job: `hai jobs submit --gpus 1 -- python train.py`. Prints its id."""
    if not command and script is None:
        fail("Give a command after `--`, or --script FILE.", 2)
    body = script.read_text() if script else None
    variables = _env(env or [])
    with platform_errors():
        job = client().jobs.submit(
            command or [],
            script=body,
            partition=partition,
            qos=qos,
            account=account,
            cpus=cpus,
            mem=mem,
            gpus=gpus,
            time=time,
            name=name,
            workdir=workdir,
            env=variables,
        )
    print_json(job) if as_json else print(job["id"])


@jobs.command("list")
def list_jobs(
    everyone: Annotated[bool, typer.Option("--all", help="Everyone's (admins).")] = False,
    state: Annotated[str | None, typer.Option(help="e.g. running or pending,running.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your jobs, newest first."""
    with platform_errors():
        rows = client().jobs.list(everyone=everyone, state=state)
    print_json(rows) if as_json else print_table(rows, JOB_COLUMNS)


@jobs.command("show")
def show(job_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One job's record."""
    with platform_errors():
        job = client().jobs.get(job_id)
    if as_json:
        print_json(job)
        return
    for key, value in job.items():
        print(f"{key:>18}: {'-' if value is None else value}")


@jobs.command("cancel")
def cancel(job_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Cancel a pending or running job."""
    with platform_errors():
        job = client().jobs.cancel(job_id)
    print_json(job) if as_json else print(f"job {job_id}: {job['state']} ({job['reason']})")


@jobs.command("extend")
def extend(
    job_id: int,
    by: Annotated[str, typer.Option("--by", help="Extra time: 30m, 1h, 1h30m or Slurm's 1:00:00.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Give a pending or running job more time, within its QOS's and partition's limits."""
    with platform_errors():
        job = client().jobs.extend(job_id, by)
    if as_json:
        print_json(job)
    else:
        print(f"job {job_id}: time limit {job['time_limit_text']} ({job['state']})")


@jobs.command("logs")
def logs(
    job_id: int,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until the job ends.")] = False,
) -> None:
    """The job's output (stdout and stderr)."""
    with platform_errors():
        for chunk in client().jobs.logs(job_id, follow=follow):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()


@jobs.command("files")
def files(
    job_id: int,
    path: Annotated[
        str, typer.Argument(help="A folder in the job's folder (default: its top).")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The job's folder: its script, output.log and what the job wrote there."""
    with platform_errors():
        listing = client().jobs.files(job_id, path)
    if as_json:
        print_json(listing)
        return
    rows = [
        {
            **e,
            "name": e["name"] + ("/" if e["type"] == "dir" else ""),
            "size": format_size(e["size"]) if e["type"] == "file" else "-",
        }
        for e in listing["entries"]
    ]
    print_table(rows, ("name", "type", "size", "modified"))


@jobs.command("download")
def download(
    job_id: int,
    path: Annotated[str, typer.Argument(help="A file in the job's folder, e.g. output.log.")],
    local: Annotated[Path | None, typer.Argument(help="File or folder (default: here).")] = None,
) -> None:
    """Download a file of the job's folder."""
    with platform_errors():
        written = client().jobs.download(job_id, path, local or Path("."))
    typer.echo(f"downloaded {path} of job {job_id} to {written}")


@jobs.command("wait")
def wait(
    job_id: int,
    timeout: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Wait for a job to end; exit with its exit code (1 if it did not complete)."""
    with platform_errors():
        try:
            job = client().jobs.wait(job_id, timeout)
        except TimeoutError as exc:
            fail(str(exc))
    print_json(job) if as_json else print(f"job {job_id}: {job['state']}")
    if job["state"] != "completed":
        raise typer.Exit(job["exit_code"] or 1)


def _env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--env {pair!r}: write NAME=VALUE.", 2)
        out[key] = value
    return out


# ----------------------------------------------------------------------------- hai compute


@compute.command("partitions")
def partitions(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Partitions: accelerators, time limits, QOS allowed."""
    with platform_errors():
        rows = client().compute.partitions()
    columns = ("name", "accelerator", "models", "default_time", "max_time", "qos", "default_qos")
    print_json(rows) if as_json else print_table(rows, columns)


@compute.command("qos")
def qos(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """QOS: priority and per-user limits."""
    with platform_errors():
        rows = client().compute.qos()
    columns = ("name", "priority", "max_tres_pu", "max_wall", "max_submit_pu", "description")
    print_json(rows) if as_json else print_table(rows, columns)


@compute.command("resources")
def resources(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The backend, and (local) this machine's CPUs, memory and cards, and what is free."""
    with platform_errors():
        info = client().compute.resources()
    print_json(info)


@policy.command("show")
def policy_show() -> None:
    with platform_errors():
        print_json(client().compute.policy())


@policy.command("apply")
def policy_apply(file: Path) -> None:
    """Replace partitions and QOS with those of a TOML file (admins)."""
    try:
        text = file.read_text()
    except OSError as exc:
        fail(f"Cannot read {file}: {exc.strerror}.", 2)
    with platform_errors():
        result = client().compute.apply_policy(text)
    print(f"policy applied: {len(result['partitions'])} partitions, {len(result['qos'])} QOS")
