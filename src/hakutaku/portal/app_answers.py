"""The apps proxy's own pages (hakutaku.apps.proxy): an app session not found, a request from
another site, a session still starting, one that has ended and why, an app not answering.

They are in the visitor's language, chosen as for every portal page (the user's own setting,
else the `hai_lang` cookie, else Accept-Language, else HAI_PORTAL_DEFAULT_LOCALE), from the
portal's catalogue.
"""

from __future__ import annotations

from hakutaku.apps.proxy import AnswerPage
from hakutaku.apps.sessions import Target
from hakutaku.portal import i18n
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import environment

# why a session ended (hakutaku.apps.ending), as the cards and the "Session ended" page say it
ENDED_NAMES = {
    "completed": N_("completed"),
    "time limit": N_("time limit reached"),
    "out of memory": N_("out of memory"),
    "cancelled": N_("cancelled"),
    "stopped after being idle": N_("stopped after being idle"),
    "failed": N_("failed"),
}
KINDS = ("not_found", "origin", "starting", "ended", "unreachable")


def ended_name(why: str) -> str:
    """The words for why a session ended, in the current language."""
    return _(ENDED_NAMES[why]) if why in ENDED_NAMES else why


def words(kind: str, target: Target | None) -> tuple[str, str]:
    """The page's title and message, in the current language."""
    if kind == "ended" and target is not None and target.ended is not None:
        return _("Session ended"), _(
            "This %(app)s session has ended (%(why)s). Start a new one from your app sessions."
        ) % {"app": target.app.title, "why": ended_name(target.ended)}
    if kind == "starting" and target is not None:
        if target.state == "pending":
            if target.reason:
                message = _(
                    "Waiting for resources (the scheduler says: %(reason)s). "
                    "This page reloads itself."
                ) % {"reason": target.reason}
            else:
                message = _("Waiting for resources. This page reloads itself.")
            return _("Session starting"), message
        return _("Session starting"), _("%(app)s is starting. This page reloads itself.") % {
            "app": target.app.title
        }
    if kind == "origin":
        return _("Not allowed"), _("This request came from another site; it was refused.")
    if kind == "unreachable":
        return _("App not answering"), _("The app did not answer; it may be restarting. Reload.")
    return _("Not found"), _("There is no app session at this address (that you can open).")


def answer_pages(default_locale: str) -> AnswerPage:
    """The proxy's `AnswerPage` (hakutaku.apps.proxy): its pages in the language the portal
    would choose for the request, else in `default_locale` (HAI_PORTAL_DEFAULT_LOCALE)."""

    def page(
        kind: str, accept_language: str | None, own: str | None, target: Target | None
    ) -> bytes:
        return answer_page(kind, i18n.negotiate(accept_language, own, default_locale), target)

    return page


def answer_page(kind: str, locale: str, target: Target | None = None) -> bytes:
    """The proxy's page of `kind` (one of KINDS) in `locale` (a negotiated one)."""
    i18n.activate(locale)
    title, message = words(kind, target)
    html = (
        environment()
        .get_template("sessions/answer.html")
        .render(
            kind=kind,
            title=title,
            message=message,
            refresh=kind == "starting",
            locale=locale,
        )
    )
    return html.encode()
