"""A training run submitted with its dashboard: one `hai hep train` job, one dashboard session.

The training is an ordinary job of the user's (`python -m hakutaku hep train ... --out OUT`,
the Python app jobs use, so the policy, limits and accounting apply); the dashboard is an app
session of the shipped `training` app launched on the same run folder. Both start in the
user's home, so a relative OUT means the same folder to both. The dashboard only reads the
folder: it can start (and show "waiting") before the training's job leaves the queue, and it
outlives the training so the final epochs and ROC stay on screen. The job's script writes
OUT/job-end.json (the exit code, the step that failed, its job id) as it ends, so the
dashboard can say that a training failed instead of waiting for epochs that will not come;
the dashboard, told which job it follows, closes HAI_APPS_DASHBOARD_GRACE_MINUTES later.

With separate validation data (`--val-data`), the job then runs `hai hep evaluate` on it
into OUT/evaluation: its ROC plot is what the dashboard shows at the end.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hakutaku.apps.sessions import AppSessions, Launch
from hakutaku.compute.request import JobRefused, JobSubmission
from hakutaku.db.models import AppSession, Job
from hakutaku.identity.auth import Principal

DASHBOARD_APP = "training"
# the dashboard of a submitted training ends END_GRACE seconds after the job FOLLOWS_JOB wrote
# its job-end.json (hakutaku.apps.dashboard), so that it does not hold its CPU for hours
FOLLOWS_JOB = "HAI_APP_FOLLOWS_JOB"
END_GRACE = "HAI_APP_END_GRACE"
# options the platform sets itself (or that make no sense in a submitted job)
_RESERVED = ("--out", "--submit", "--help")


@dataclass(frozen=True)
class TrainingSubmission:
    args: list[str]  # `hai hep train` options and data, as typed, without --out
    out: str  # the run folder, relative to the user's home or absolute
    name: str = ""
    cpus: int | None = None
    mem: str | None = None
    gpus: str | None = None
    time: str | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None


def submit_training(
    apps: AppSessions, s: Session, who: Principal, t: TrainingSubmission
) -> tuple[Job, AppSession]:
    """Submit the training job, then launch its dashboard on the run folder (on the default
    partition: a dashboard needs no card, even when its training does)."""
    for arg in t.args:
        if arg.split("=", 1)[0] in _RESERVED:
            raise JobRefused(
                f"{arg.split('=', 1)[0]} is set by the platform for a submitted training; "
                "give the run folder as `out`.",
                param="args",
            )
    if not t.out.strip():
        raise JobRefused("out (the run folder) must not be empty.", param="out")
    python = apps.settings.apps_python or sys.executable
    command = [python, "-m", "hakutaku", "hep", "train", *t.args, "--out", t.out]
    steps = [("train", command)]
    held_out = validation_data(t.args)
    if held_out:  # then the ROC on it, for the dashboard's end
        evaluation = [python, "-m", "hakutaku", "hep", "evaluate", "--model-dir", t.out]
        for spec in held_out:
            evaluation += ["--data", spec]
        steps.append(("evaluate", evaluation))
    script = job_script(steps, t.out)
    job = apps.compute.submit(
        s,
        who,
        JobSubmission(
            script=script,
            name=t.name or f"train:{t.out}",
            partition=t.partition,
            qos=t.qos,
            account=t.account,
            cpus=t.cpus or 1,
            mem=t.mem or "4G",
            gpus=t.gpus,
            time=t.time,
        ),
    )
    grace = apps.settings.apps_dashboard_grace_minutes
    follow = {FOLLOWS_JOB: str(job.id), END_GRACE: f"{grace * 60:g}"} if grace > 0 else {}
    session = apps.launch(
        s,
        who,
        Launch(app=DASHBOARD_APP, folder=t.out, account=t.account, env=follow),
    )
    return job, session


def validation_data(args: list[str]) -> list[str]:
    """The specs given with --val-data (as `--val-data X` or `--val-data=X`)."""
    found: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--val-data" and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith("--val-data="):
            found.append(arg.split("=", 1)[1])
    return found


def job_script(steps: list[tuple[str, list[str]]], out: str) -> str:
    """Bash running `steps` in order, stopping at the first that fails, then recording how
    the job ended in OUT/job-end.json (what the dashboard reads; it cannot see the job)."""
    target = shlex.quote(out)
    # an earlier run's record in the same folder (a --resume) is not this job's
    lines = [f"rm -f {target}/job-end.json", "step=none", "code=0"]
    for name, argv in steps:
        lines.append(f'if [ "$code" = 0 ]; then step={name}; {shlex.join(argv)}; code=$?; fi')
    # and which job wrote it (a dashboard follows one job: an earlier run's record is not it)
    record = '{"exit_code": %d, "step": "%s", "job": "%s"}\\n'
    lines += [
        f"mkdir -p {target}",
        f'printf \'{record}\' "$code" "$step" "${{HAI_JOB_ID:-}}" > {target}/job-end.json',
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"
