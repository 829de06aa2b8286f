"""Reading jobs a page at a time: newest first, filtered, with their owners' names.

The same visibility as `ComputeService.list` (and so `GET /api/jobs`): a user sees their own
jobs; an admin may ask for everyone's. Pages are keyset-paginated on the job id (`before`),
so page 1000 costs what page 1 does, and nothing counts the whole table: the summary counts
only active jobs, which the state indexes find directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from hakutaku.compute.states import ACTIVE_STATES, JobState
from hakutaku.db.models import Job, User
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
ACTIVE = "active"  # the filter value for pending or running

# What a row of the list shows: the rest (command, script, env) stays in the database.
LIST_COLUMNS = (
    Job.id,
    Job.user_id,
    Job.name,
    Job.partition,
    Job.qos,
    Job.cpus,
    Job.mem_mb,
    Job.accelerator,
    Job.accelerator_model,
    Job.accelerators,
    Job.state,
    Job.reason,
    Job.exit_code,
    Job.node,
    Job.submitted_at,
    Job.started_at,
    Job.ended_at,
)


@dataclass(frozen=True)
class JobFilter:
    state: str = ""  # a state, "active", or "" for any
    partition: str = ""
    text: str = ""  # part of the job's name
    everyone: bool = False  # admins: every user's jobs

    def states(self) -> list[str]:
        if not self.state:
            return []
        if self.state == ACTIVE:
            return sorted(st.value for st in ACTIVE_STATES)
        if self.state not in {st.value for st in JobState}:
            raise PlatformError(
                f"Unknown state {self.state!r}; states are "
                f"{', '.join(st.value for st in JobState)} (or {ACTIVE})."
            )
        return [self.state]


@dataclass
class JobRow:
    job: Job
    owner: str


@dataclass
class JobPage:
    rows: list[JobRow] = field(default_factory=list)
    older: int | None = None  # `before` for the next (older) page; None on the last page


def page_of_jobs(
    s: Session,
    who: Principal,
    flt: JobFilter,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> JobPage:
    """One page of the jobs `who` may see, newest first, older than job `before`."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = (
        select(Job, User.name)
        .join(User, User.id == Job.user_id)
        .options(load_only(*LIST_COLUMNS))
        .order_by(Job.id.desc())
        .limit(limit + 1)  # one more says whether an older page exists
    )
    if not (flt.everyone and who.is_admin):
        query = query.where(Job.user_id == who.user_id)
    if states := flt.states():
        query = query.where(Job.state.in_(states))
    if flt.partition:
        query = query.where(Job.partition == flt.partition)
    if flt.text.strip():
        query = query.where(Job.name.icontains(flt.text.strip(), autoescape=True))
    if before is not None:
        query = query.where(Job.id < before)
    found = [JobRow(job, owner) for job, owner in s.execute(query).all()]
    older = found[limit - 1].job.id if len(found) > limit else None
    return JobPage(found[:limit], older)


def active_counts(s: Session, who: Principal, everyone: bool = False) -> dict[str, int]:
    """Pending and running jobs `who` may see, by state (the state indexes answer this)."""
    query = (
        select(Job.state, func.count())
        .where(Job.state.in_([st.value for st in ACTIVE_STATES]))
        .group_by(Job.state)
    )
    if not (everyone and who.is_admin):
        query = query.where(Job.user_id == who.user_id)
    counts = {st.value: 0 for st in ACTIVE_STATES}
    counts.update({state: int(n) for state, n in s.execute(query).all()})
    return counts
