"""The compute policy, for admins: partitions and QOS as tables, and applying a TOML file.

GET  /admin/policy    the policy in the database, and a form with it as TOML to edit
POST /admin/policy    apply a TOML text (pasted) or file (uploaded): the whole policy is replaced

The checks are those of `PUT /api/compute/policy` and `hai compute policy apply`:
`parse_policy` on the TOML, then `write_policy` (which checks again). A refused policy is shown
again as sent, with the PolicyError's message; the database keeps the old one.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.policy import PartitionSpec, Policy, PolicyError, QosSpec, parse_policy
from hakutaku.compute.policy_store import read_policy, write_policy
from hakutaku.compute.units import format_duration, format_tres
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import Admin
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.admin_common import AdminPosting, blocking, done, notice
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

MAX_POLICY_BYTES = 1024 * 1024  # a policy file is a few kilobytes; this is plenty
SOURCE = "the policy sent"  # how PUT /api/compute/policy names it in its messages
DONE = {"applied": N_("The policy is applied. Jobs already submitted keep their values.")}
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# -- the policy as TOML (the file's own spellings), to edit and apply again ------------------------


def _key(name: str) -> str:
    return name if BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    # a JSON string is a TOML basic string: the same escapes
    return json.dumps(str(value), ensure_ascii=False)


def _partition_lines(p: PartitionSpec) -> list[str]:
    lines = [f"[partitions.{_key(p.name)}]", f"accelerator = {_value(p.accelerator)}"]
    if p.models:
        lines.append(f"models = {_value(p.models)}")
    if p.nodes:
        lines.append(f"nodes = {_value(p.nodes)}")
    lines.append(f"default_time = {_value(format_duration(p.default_time))}")
    lines.append(f"max_time = {_value(format_duration(p.max_time))}")
    if p.qos:
        lines.append(f"qos = {_value(p.qos)}")
    if p.default_qos:
        lines.append(f"default_qos = {_value(p.default_qos)}")
    if p.description:
        lines.append(f"description = {_value(p.description)}")
    return lines


def _qos_lines(q: QosSpec) -> list[str]:
    lines = [f"[qos.{_key(q.name)}]", f"priority = {q.priority}"]
    if q.max_tres_pu:
        lines.append(f"max_tres_pu = {_value(format_tres(q.max_tres_pu))}")
    if q.max_wall is not None:
        lines.append(f"max_wall = {_value(format_duration(q.max_wall))}")
    if q.max_submit_pu is not None:
        lines.append(f"max_submit_pu = {q.max_submit_pu}")
    if q.description:
        lines.append(f"description = {_value(q.description)}")
    return lines


def policy_toml(policy: Policy) -> str:
    """The policy as a policy file: applying it again gives the same policy."""
    blocks: list[list[str]] = []
    if policy.default_partition is not None:
        blocks.append([f"default_partition = {_value(policy.default_partition)}"])
    blocks += [_partition_lines(p) for p in policy.partitions.values()]
    blocks += [_qos_lines(q) for q in policy.qos.values()]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def policy_from_text(text: str) -> Policy:
    """The checks of PUT /api/compute/policy on a TOML text; PlatformError says what to fix."""
    try:
        return parse_policy(tomllib.loads(text), SOURCE)
    except tomllib.TOMLDecodeError as exc:
        message = f"The policy sent is not valid TOML: {exc}."
        raise PlatformError(message, code="invalid_policy") from exc
    except PolicyError as exc:
        raise PlatformError(str(exc), code="invalid_policy") from exc


# -- the page -------------------------------------------------------------------------------------


def _rows(policy: Policy) -> dict[str, Any]:
    return {
        "default_partition": policy.default_partition,
        "partitions": [
            {
                "name": p.name,
                "accelerator": p.accelerator,
                "models": p.models,
                "nodes": p.nodes,
                "default_time": format_duration(p.default_time),
                "max_time": format_duration(p.max_time),
                "qos": p.qos,
                "default_qos": p.default_qos,
                "description": p.description,
            }
            for p in policy.partitions.values()
        ],
        "qos": [
            {
                "name": q.name,
                "priority": q.priority,
                "max_tres_pu": format_tres(q.max_tres_pu) if q.max_tres_pu else "",
                "max_wall": format_duration(q.max_wall) if q.max_wall is not None else "",
                "max_submit_pu": q.max_submit_pu,
                "description": q.description,
            }
            for q in sorted(policy.qos.values(), key=lambda q: (-q.priority, q.name))
        ],
    }


async def _page(
    request: Request,
    replica: Replica,
    *,
    sent: str | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    def load() -> Policy:
        with replica.db.session() as s:
            return read_policy(s)

    policy = await blocking(load)
    context = {
        **_rows(policy),
        "toml": sent if sent is not None else policy_toml(policy),
        "notice": notice(request, DONE),
        **extra,
    }
    return render(request, "admin/policy.html", context, status=status)


@router.get("/admin/policy")
async def policy_page(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _page(request, replica)


@router.post("/admin/policy")
async def apply_policy(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    toml: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    text = toml
    if file is not None and file.filename:
        raw = await file.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            error = _("The file is larger than 1 MiB; a policy file is a few kilobytes.")
            return await _page(request, replica, sent=toml, status=413, error=error)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            error = _("The file %(name)s is not UTF-8 text; choose the policy's TOML file.") % {
                "name": file.filename
            }
            return await _page(request, replica, sent=toml, status=400, error=error)
    if not text.strip():
        error = _("Paste the policy's TOML, or choose its file.")
        return await _page(request, replica, sent=text, status=400, error=error)

    def apply() -> None:
        policy = policy_from_text(text)
        with replica.db.session() as s:
            try:
                write_policy(s, policy)
            except PolicyError as exc:
                raise PlatformError(str(exc), code="invalid_policy") from exc

    try:
        await blocking(apply)
    except PlatformError as exc:
        return await _page(request, replica, sent=text, status=exc.status, error=exc.message)
    return done("/admin/policy", "applied")
