"""Reading jobs a page at a time: newest first, filtered, with their owners' names.

The same visibility as `ComputeService.list` (and so `GET /api/jobs`): a user sees their own
jobs; an admin may ask for everyone's. Pages are keyset-paginated on the job id (`before`),
so page 1000 costs what page 1 does, and nothing counts the whole table: the summary counts
only active jobs, which the state indexes find directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.compute.states import ACTIVE_STATES, JobState
from hakutaku.db.models import Job, User
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SEARCH_WINDOW = 2000  # jobs a name or partition filter reads for one page
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
    job: Any  # a Row of the LIST_COLUMNS of one job, by name (job.id, job.state, ...)
    owner: str


@dataclass
class JobPage:
    rows: list[JobRow] = field(default_factory=list)
    older: int | None = None  # `before` for the next (older) page; None on the last page
    # A name or partition filter reads at most SEARCH_WINDOW jobs a page (no index answers
    # them): when it stopped there, the id it stopped at; older jobs are the next page's.
    searched_to: int | None = None


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
    # What the indexes answer: the owner (user_id), the state, the page (id).
    indexed = []
    if not (flt.everyone and who.is_admin):
        indexed.append(Job.user_id == who.user_id)
    if states := flt.states():
        indexed.append(Job.state.in_(states))
    if before is not None:
        indexed.append(Job.id < before)
    unindexed = []
    if flt.partition:
        unindexed.append(Job.partition == flt.partition)
    if flt.text.strip():
        unindexed.append(Job.name.icontains(flt.text.strip(), autoescape=True))
    # plain rows, not ORM objects: a page of 50 costs a fraction of a millisecond to build
    query = (
        select(*LIST_COLUMNS, User.name.label("owner"))
        .join(User, User.id == Job.user_id)
        .order_by(Job.id.desc())
        .limit(limit + 1)  # one more says whether an older page exists
    )
    window = None
    if unindexed:
        # Filter only the newest SEARCH_WINDOW candidates, so that a name no job has costs
        # a bounded read rather than the whole table.
        window = (
            select(Job.id).where(*indexed).order_by(Job.id.desc()).limit(SEARCH_WINDOW)
        ).subquery()
        query = query.where(Job.id.in_(select(window.c.id)), *unindexed)
    else:
        query = query.where(*indexed)
    # Core rows through the session's connection: the ORM adds nothing to plain columns
    found = [JobRow(row, row.owner) for row in s.connection().execute(query).all()]
    if len(found) > limit:
        return JobPage(found[:limit], found[limit - 1].job.id)
    if window is not None:
        counted = select(func.count(), func.min(window.c.id))
        scanned, lowest = s.connection().execute(counted).one()
        if scanned >= SEARCH_WINDOW:
            return JobPage(found, lowest, searched_to=lowest)
    return JobPage(found)


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
    counts.update({state: int(n) for state, n in s.connection().execute(query).all()})
    return counts
