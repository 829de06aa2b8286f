"""A file response read through a descriptor the platform opened and checked."""

from __future__ import annotations

import os
from typing import Any

from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send


class OpenedFileResponse(FileResponse):
    """A FileResponse of a file already opened and checked (storage's open_to_read,
    job_files.open_file): read through its descriptor, so a name swapped for a link
    meanwhile changes nothing; the descriptor is closed once the response is sent (or
    fails)."""

    def __init__(self, fd: int, **kwargs: Any) -> None:
        self.fd = fd
        super().__init__(f"/proc/self/fd/{fd}", stat_result=os.fstat(fd), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Not `pathsend`: the server would open the path after this returns and closes it.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if "pathsend" not in k}
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            os.close(self.fd)
