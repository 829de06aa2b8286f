"""First start: create the bootstrap admin and its key, once."""

from __future__ import annotations

from sqlalchemy import select

from hakutaku.config import Settings, write_secret_file
from hakutaku.db.models import Meta, User
from hakutaku.db.session import Database
from hakutaku.identity.service import add_user, create_key

BOOTSTRAP_USER = "admin"


def ensure_bootstrap_admin(db: Database, settings: Settings, server_secret: bytes) -> str | None:
    """Create the admin and its key on first start; return the new key (else None).

    The key is written to `$HAI_HOME/bootstrap-admin.key` (mode 600) so that CLI commands on
    this host can use it; it is never stored in the database in clear.
    """
    with db.session() as s:
        if s.get(Meta, "bootstrap_admin") is not None:
            return None
        admin = s.scalar(select(User).where(User.name == BOOTSTRAP_USER))
        if admin is None:
            admin = add_user(s, BOOTSTRAP_USER, role="admin", groups=["admins"])
        created = create_key(s, server_secret, admin.name, name="bootstrap")
        s.add(Meta(key="bootstrap_admin", value=str(created.row.id)))
    write_secret_file(settings.bootstrap_key_path, created.secret)
    return created.secret
