"""Every home measured now and then (HAI_MONITOR_HOMES_INTERVAL), for the near-quota alert.

Measuring walks the files (hakutaku.storage.quota.measure, as the quota check does), so it is
done by the monitor's lease holder in its own thread, never for a page view; the alert reads
the numbers back with one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from hakutaku.db.models import HomeUsage, StorageQuota, User
from hakutaku.storage.quota import Limits, Usage, measure

NEAR_QUOTA = 0.9  # a home at or above this share of its bytes or files quota is an alert


def measure_homes(s: Session, homes: Path) -> dict[int, Usage]:
    """What each user's home holds now (users without a home folder are left out)."""
    found = {}
    for user_id, name in s.execute(select(User.id, User.name)):
        folder = homes / name
        if folder.is_dir():
            found[user_id] = measure(folder)
    return found


def write_home_usage(s: Session, measured: dict[int, Usage], at: datetime) -> None:
    s.execute(delete(HomeUsage))
    s.add_all(
        HomeUsage(user_id=user_id, bytes=u.bytes, files=u.files, measured_at=at)
        for user_id, u in measured.items()
    )


@dataclass(frozen=True)
class NearQuota:
    user: str
    used: Usage
    limits: Limits
    measured_at: datetime

    @property
    def share(self) -> float:
        """The larger of bytes and files used, as a share of its limit."""
        shares = [
            self.used.bytes / self.limits.max_bytes if self.limits.max_bytes else 1.0,
            self.used.files / self.limits.max_files if self.limits.max_files else 1.0,
        ]
        return max(shares)


def homes_near_quota(s: Session, defaults: Limits, limit: int = 50) -> list[NearQuota]:
    """Homes at or above NEAR_QUOTA of their bytes or files quota, fullest first (one query)."""
    max_bytes = func.coalesce(StorageQuota.max_bytes, defaults.max_bytes)
    max_files = func.coalesce(StorageQuota.max_files, defaults.max_files)
    rows = s.execute(
        select(
            User.name, HomeUsage.bytes, HomeUsage.files, max_bytes, max_files, HomeUsage.measured_at
        )
        .join(User, User.id == HomeUsage.user_id)
        .outerjoin(StorageQuota, StorageQuota.user_id == HomeUsage.user_id)
        .where(
            or_(
                HomeUsage.bytes >= max_bytes * NEAR_QUOTA,
                HomeUsage.files >= max_files * NEAR_QUOTA,
            )
        )
    ).all()
    found = [
        NearQuota(name, Usage(int(b), int(f)), Limits(int(mb), int(mf)), at)
        for name, b, f, mb, mf, at in rows
    ]
    found.sort(key=lambda n: (-n.share, n.user))
    return found[:limit]


def count_near_quota(s: Session, defaults: Limits) -> int:
    max_bytes = func.coalesce(StorageQuota.max_bytes, defaults.max_bytes)
    max_files = func.coalesce(StorageQuota.max_files, defaults.max_files)
    return int(
        s.scalar(
            select(func.count())
            .select_from(HomeUsage)
            .outerjoin(StorageQuota, StorageQuota.user_id == HomeUsage.user_id)
            .where(
                or_(
                    HomeUsage.bytes >= max_bytes * NEAR_QUOTA,
                    HomeUsage.files >= max_files * NEAR_QUOTA,
                )
            )
        )
        or 0
    )
