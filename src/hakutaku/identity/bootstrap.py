"""First start: create the bootstrap admin and its key, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hakutaku.config import Settings, write_secret_file
from hakutaku.db.models import Meta, User
from hakutaku.db.session import Database
from hakutaku.identity.secrets import secret_fingerprint
from hakutaku.identity.service import add_user, create_key

BOOTSTRAP_USER = "admin"
FIRST_LOGIN_LIFETIME = timedelta(hours=24)


def check_server_secret(db: Database, server_secret: bytes) -> None:
    """Refuse to serve with another secret than the one the database was made with.

    Replicas sharing a database must share the secret: with a different one every key would
    be refused and stored upstream keys could not be decrypted.
    """
    mine = secret_fingerprint(server_secret)
    with db.session() as s:
        stored = s.get(Meta, "server_secret_fingerprint")
        if stored is None:
            s.add(Meta(key="server_secret_fingerprint", value=mine))
            return
        if stored.value != mine:
            raise RuntimeError(
                "this server's secret differs from the one this database was created with. "
                "Every replica must use the same secret: copy server.secret from the first "
                "server's HAI_HOME (mode 600) or set HAI_SERVER_SECRET."
            )


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


def first_login_link(db: Database, settings: Settings, server_secret: bytes) -> str | None:
    """A one-time portal link for the bootstrap admin while it has no password, else None.

    `hai up` prints it: opening it signs the admin in once and asks for a password.
    """
    from hakutaku.identity.sessions import create_login_link

    with db.session() as s:
        admin = s.scalar(select(User).where(User.name == BOOTSTRAP_USER))
        if admin is None or admin.password_hash is not None or admin.disabled:
            return None
        token = create_login_link(s, server_secret, admin, "first-login", FIRST_LOGIN_LIFETIME)
    return f"{settings.server_url}/login/link/{token}"
