"""Saved job forms (OnDemand's Job Composer): a user's named submissions, to start jobs from.

A template keeps the form's values as they were typed (text), not resolved against the
policy: partitions and limits may change between saving and using it, and a job made from it
is checked like any other when it is submitted. Templates belong to one user; nobody else,
admins included, lists, opens or deletes them (a template is a draft, not a platform record).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hakutaku.db.models import JobTemplate
from hakutaku.errors import Conflict, NotFound, PlatformError
from hakutaku.identity.auth import Principal

# The values a template keeps, with the most characters each may have.
TEMPLATE_FIELDS: dict[str, int] = {
    "name": 128,
    "partition": 64,
    "qos": 64,
    "account": 64,
    "cpus": 16,
    "mem": 32,
    "card_model": 64,
    "cards": 16,
    "time": 32,
    "workdir": 1024,
    "mode": 16,
    "command": 8192,
    "script": 64 * 1024,
}
NAME_LENGTH = 128
MAX_TEMPLATES = 200  # per user: a list people read, not a store


def template_spec(values: Mapping[str, object]) -> dict[str, str]:
    """The known fields of `values` as text, each cut to its length; the rest is dropped."""
    spec: dict[str, str] = {}
    for field, length in TEMPLATE_FIELDS.items():
        value = values.get(field)
        if value is not None:
            spec[field] = str(value)[:length]
    return spec


def list_templates(s: Session, who: Principal) -> list[JobTemplate]:
    query = select(JobTemplate).where(JobTemplate.user_id == who.user_id)
    return list(s.scalars(query.order_by(JobTemplate.name).limit(MAX_TEMPLATES)))


def get_template(s: Session, who: Principal, template_id: int) -> JobTemplate:
    row = s.get(JobTemplate, template_id)
    if row is None or row.user_id != who.user_id:
        raise NotFound(
            f"No job template {template_id} of yours; your templates are listed "
            "under Jobs → Templates."
        )
    return row


def save_template(
    s: Session, who: Principal, name: str, values: Mapping[str, object]
) -> tuple[JobTemplate, bool]:
    """Save `values` under `name` (replacing my template of that name); (row, created)."""
    name = " ".join(name.split())
    if not name:
        raise PlatformError("Give the template a name.", param="template_name")
    if len(name) > NAME_LENGTH:
        raise PlatformError(
            f"A template name has at most {NAME_LENGTH} characters; this one has {len(name)}.",
            param="template_name",
        )
    spec = template_spec(values)
    now = datetime.now(UTC)
    row = s.scalar(
        select(JobTemplate).where(JobTemplate.user_id == who.user_id, JobTemplate.name == name)
    )
    if row is not None:
        row.spec = spec
        row.updated_at = now
        return row, False
    count = s.scalar(
        select(func.count()).select_from(JobTemplate).where(JobTemplate.user_id == who.user_id)
    )
    if count is not None and count >= MAX_TEMPLATES:
        raise Conflict(
            f"You have {count} job templates, the most one user may keep; delete some first.",
            param="template_name",
        )
    row = JobTemplate(user_id=who.user_id, name=name, spec=spec, created_at=now, updated_at=now)
    try:
        with s.begin_nested():  # a save of the same name at the same moment loses cleanly
            s.add(row)
    except IntegrityError:
        raise Conflict(
            f"A template named {name!r} was saved at the same moment; save again to replace it.",
            param="template_name",
        ) from None
    return row, True


def delete_template(s: Session, who: Principal, template_id: int) -> str:
    """Delete one of my templates; its name."""
    row = get_template(s, who, template_id)
    name = row.name
    s.delete(row)
    return name
