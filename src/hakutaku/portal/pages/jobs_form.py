"""The job form's values and the limits shown beside its fields.

`JobForm` holds what the browser sent, as text, so a refused form comes back exactly as it was
typed; `submission()` turns it into the JobSubmission that `POST /api/jobs` would make, and the
policy check itself is ComputeService.submit's (same refusals, same texts). `FormLimits` reads
the chosen partition and QOS out of the policy: the QOS choices, card models and every limit
the form shows next to a field.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from hakutaku.compute.capacity import Capacity
from hakutaku.compute.job_templates import TEMPLATE_FIELDS
from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec
from hakutaku.compute.request import JobRefused, JobSubmission
from hakutaku.compute.units import format_duration, format_mem_mb
from hakutaku.db.models import Job
from hakutaku.portal.i18n import _

MODES = ("command", "script")


@dataclass
class JobForm:
    """The form's fields as typed (the names are the HTML fields' names)."""

    name: str = ""
    partition: str = ""
    qos: str = ""
    account: str = ""
    cpus: str = "1"
    mem: str = "1G"
    card_model: str = ""
    cards: str = "0"
    time: str = ""
    workdir: str = ""
    mode: str = "command"
    command: str = ""
    script: str = ""

    @classmethod
    def of(cls, values: Mapping[str, object]) -> JobForm:
        """From a submitted form or a saved template: known fields only, each cut to length."""
        form = cls()
        for f in fields(cls):
            value = values.get(f.name)
            if isinstance(value, str):
                setattr(form, f.name, value[: TEMPLATE_FIELDS[f.name]])
        if form.mode not in MODES:
            form.mode = "command"
        return form

    @classmethod
    def of_job(cls, job: Job) -> JobForm:
        """The values that submit this job again (resubmit)."""
        return cls(
            name=job.name,
            partition=job.partition,
            qos=job.qos,
            account=job.account or "",
            cpus=str(job.cpus),
            mem=format_mem_mb(job.mem_mb),
            card_model=job.accelerator_model or "",
            cards=str(job.accelerators),
            time=format_duration(job.time_limit),
            workdir=job.workdir,
            mode="script" if job.script is not None else "command",
            command=shlex.join(job.command) if job.command else "",
            script=job.script or "",
        )

    def values(self) -> dict[str, str]:
        return asdict(self)

    def submission(self) -> JobSubmission:
        """What POST /api/jobs would be sent; JobRefused for text that cannot be read."""
        cpus_text = self.cpus.strip() or "1"
        try:
            cpus = int(cpus_text)
        except ValueError:
            raise JobRefused(
                _("CPUs must be a whole number, not %(value)r.") % {"value": cpus_text},
                param="cpus",
            ) from None
        command: list[str] = []
        script: str | None = None
        if self.mode == "script":
            script = self.script.replace("\r\n", "\n") if self.script.strip() else None
        else:
            try:
                command = shlex.split(self.command)
            except ValueError as exc:
                raise JobRefused(
                    _("Cannot split the command into words (%(why)s); check its quotes.")
                    % {"why": exc},
                    param="command",
                ) from None
        cards = self.cards.strip()
        gpus: str | None = None
        if cards and cards != "0":
            model = self.card_model.strip()
            gpus = f"{model}:{cards}" if model else cards
        return JobSubmission(
            command=command,
            script=script,
            name=self.name.strip(),
            partition=self.partition.strip() or None,
            qos=self.qos.strip() or None,
            account=self.account.strip() or None,
            cpus=cpus,
            mem=self.mem.strip() or "1G",
            gpus=gpus,
            time=self.time.strip() or None,
            workdir=self.workdir.strip() or None,
        )


# Which form field a refusal's `param` is about (TRES limits name the resource).
FIELD_OF_PARAM = {
    "cpu": "cpus",
    "cpus": "cpus",
    "mem": "mem",
    "gpus": "cards",
    "time": "time",
    "partition": "partition",
    "qos": "qos",
    "account": "account",
    "workdir": "workdir",
    "command": "command",
    "script": "script",
    "template_name": "template_name",
}


def field_of(param: str | None, mode: str) -> str | None:
    if param is None:
        return None
    if param.startswith("gres/"):
        return "cards"
    found = FIELD_OF_PARAM.get(param)
    if found in ("command", "script"):
        return "script" if mode == "script" else "command"
    return found


@dataclass(frozen=True)
class FormLimits:
    """The policy as the form shows it, for the partition and QOS the form has chosen."""

    partitions: list[PartitionSpec]
    partition: PartitionSpec
    qos_choices: list[QosSpec]
    qos: QosSpec
    card_models: list[str]
    max_time: int
    max_time_by_qos: bool  # the QOS's MaxWall is the tighter of the two
    default_time: int
    cpu_limit: int | None
    mem_limit_mb: int | None
    card_limit: int | None
    machine: Capacity | None  # the local backend's machine; None when Slurm places jobs

    @property
    def has_cards(self) -> bool:
        return self.partition.accelerator != "cpu"

    @property
    def card_tres(self) -> str:
        return f"gres/{self.partition.accelerator}"

    @property
    def machine_cards(self) -> int | None:
        if self.machine is None or not self.has_cards:
            return None
        return len(self.machine.cards(self.partition.accelerator))


def form_limits(policy: Policy, form: JobForm, machine: Capacity | None) -> FormLimits:
    """The limits for the form's partition and QOS (or the defaults), choosing valid ones."""
    partitions = list(policy.partitions.values())
    partition = policy.partitions.get(form.partition) or policy.partitions.get(
        policy.default_partition or "", partitions[0]
    )
    qos_choices = [policy.qos[n] for n in partition.qos if n in policy.qos] or list(
        policy.qos.values()
    )
    by_name = {q.name: q for q in qos_choices}
    qos = by_name.get(form.qos) or by_name.get(partition.default_qos or "") or qos_choices[0]
    models = list(partition.models)
    if not models and machine is not None and partition.accelerator != "cpu":
        models = sorted({a.model for a in machine.cards(partition.accelerator)})
    max_time = partition.max_time
    by_qos = qos.max_wall is not None and qos.max_wall < max_time
    if by_qos and qos.max_wall is not None:
        max_time = qos.max_wall
    return FormLimits(
        partitions=partitions,
        partition=partition,
        qos_choices=qos_choices,
        qos=qos,
        card_models=models,
        max_time=max_time,
        max_time_by_qos=by_qos,
        default_time=min(partition.default_time, qos.max_wall or partition.default_time),
        cpu_limit=qos.max_tres_pu.get("cpu"),
        mem_limit_mb=qos.max_tres_pu.get("mem"),
        card_limit=qos.max_tres_pu.get(f"gres/{partition.accelerator}"),
        machine=machine,
    )
