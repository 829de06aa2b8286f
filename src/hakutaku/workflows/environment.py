"""What `hai workflows run` tells the campaign file it starts, through the environment, and
the journal a campaign picks from it.

`hai workflows run campaign.py --profile slurm --name scan` runs the file with its own
interpreter and sets:

- HAI_WORKFLOW_JOURNAL=platform: journal through the platform's `/api/workflows` with the
  user's key (HAI_URL, HAI_API_KEY), so the campaign is the key's user's, shows in
  `hai workflows list`, can be cancelled from anywhere and is billed to them;
- HAI_WORKFLOW_PROFILE and HAI_WORKFLOW_NAME: the flags, which win over what the file says
  (the same file runs on the laptop and on Slurm).

Without HAI_WORKFLOW_JOURNAL (plain `python campaign.py`) the journal is the database of the
settings (`HAI_DATABASE_URL`, else SQLite in HAI_HOME), as on a laptop. An explicit
`Campaign(database_url=...)` always journals there.
"""

from __future__ import annotations

import os

from hakutaku.config import get_settings
from hakutaku.db.migrate import upgrade
from hakutaku.workflows.errors import WorkflowError
from hakutaku.workflows.journal import DatabaseBackend, JournalBackend

JOURNAL_VARIABLE = "HAI_WORKFLOW_JOURNAL"
NAME_VARIABLE = "HAI_WORKFLOW_NAME"
PROFILE_VARIABLE = "HAI_WORKFLOW_PROFILE"
PLATFORM = "platform"
DATABASE = "database"
JOURNALS = (PLATFORM, DATABASE)


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def campaign_name(name: str) -> str:
    """The name `hai workflows run --name` gave, else the file's."""
    return _env(NAME_VARIABLE) or name


def campaign_profile(profile: str) -> str:
    """The profile `hai workflows run --profile` gave, else the file's."""
    return _env(PROFILE_VARIABLE) or profile


def journal_backend(database_url: str | None, user: str | None) -> JournalBackend:
    """The journal's backend: the database named, else the platform when asked for, else the
    settings' database."""
    if database_url is not None:
        return _database(database_url, user)
    chosen = _env(JOURNAL_VARIABLE) or DATABASE
    if chosen not in JOURNALS:
        raise WorkflowError(
            f"{JOURNAL_VARIABLE}={chosen!r} is not a journal; use {PLATFORM} (through "
            f"/api/workflows) or {DATABASE} (the settings' database)"
        )
    if chosen == PLATFORM:
        if user is not None:
            raise WorkflowError(
                "a campaign journaled on the platform belongs to the API key's user; drop "
                f"user={user!r} (or journal on a database with database_url=...)"
            )
        from hakutaku.workflows.journal_platform import PlatformBackend

        return PlatformBackend.from_environment()
    return _database(get_settings().sqlalchemy_url, user)


def _database(url: str, user: str | None) -> DatabaseBackend:
    upgrade(url)
    return DatabaseBackend(url, user)
