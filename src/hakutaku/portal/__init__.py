"""The web portal at `/`: sign-in (password, OpenID Connect), sessions, and the pages.

Pages are rendered on the server (Jinja2) and updated in place with htmx; live parts use
server-sent events. Every page acts as the signed-in user through the same services as
`/api` — the portal holds no shortcut an API caller could not take. Front-end libraries come
from npm (frontend/package-lock.json) and are served from `static/vendor`; nothing loads from
a CDN.
"""
