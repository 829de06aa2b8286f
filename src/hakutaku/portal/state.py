"""What the portal keeps per replica: the sign-in limiter and the SSO provider's metadata."""

from __future__ import annotations

from hakutaku.config import Settings
from hakutaku.portal.oidc import OidcProvider
from hakutaku.portal.security import LoginLimiter


class PortalState:
    def __init__(self, settings: Settings) -> None:
        self.limiter = LoginLimiter(settings.portal_login_attempts)
        self.oidc = OidcProvider(settings) if settings.oidc_enabled else None
