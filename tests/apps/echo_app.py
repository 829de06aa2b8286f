"""An operator's app for the tests (HAI_APPS_FILE): answers under its base URL with the
headers it received, refuses requests without the session's secret, and tries to set the
portal's cookie. Standard library only; run by the platform as an app session's job."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = os.environ["APP_BASE_URL"]
SECRET = os.environ["APP_SECRET"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("x-app-secret") != SECRET:
            self.send_response(403)
            self.end_headers()
            return
        body = json.dumps(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "secret": SECRET,
            }
        ).encode()
        self.send_response(200 if self.path.startswith(BASE) else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("set-cookie", "hai_session=forged; Path=/")
        self.send_header("set-cookie", "app_cookie=kept; Path=" + BASE)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


ThreadingHTTPServer((os.environ["APP_HOST"], int(os.environ["APP_PORT"])), Handler).serve_forever()
