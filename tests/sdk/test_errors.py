"""sdk/errors.py turns every error response into one APIError; hub/remote_store.py maps it
onto the exceptions the folder hub raises."""

from __future__ import annotations

import httpx
import pytest

from hakutaku.hub.remote_store import folder_error
from hakutaku.sdk.errors import APIError, ConnectionFailed, from_error_object, from_response


def response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("GET", "http://hai/api/x")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


def test_the_platforms_error_shape() -> None:
    body = {
        "error": {
            "message": "no user named 'x'",
            "type": "not_found_error",
            "param": "name",
            "code": "not_found",
        }
    }
    err = from_response(response(404, json=body))
    assert (err.status, err.type, err.code) == (404, "not_found_error", "not_found")
    assert err.param == "name"
    assert err.message == "no user named 'x'"
    assert str(err) == "404 not_found_error: no user named 'x'"


def test_other_shapes_still_say_what_happened() -> None:
    framework = from_response(response(502, json={"detail": "Bad gateway"}))
    assert (framework.status, framework.message, framework.code) == (502, "Bad gateway", None)
    proxy = from_response(response(503, text="<html>down for maintenance</html>"))
    assert proxy.status == 503 and "maintenance" in proxy.message
    empty = from_response(response(500))
    assert empty.message == "Internal Server Error"


def test_stream_frames_and_connections() -> None:
    error = {"message": "boom", "type": "server_error", "code": "model_error"}
    frame = from_error_object(error, 502)
    assert (frame.status, frame.code, frame.param) == (502, "model_error", None)
    lost = ConnectionFailed("cannot reach the platform")
    assert isinstance(lost, APIError) and lost.status == 0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, LookupError),
        (401, PermissionError),
        (403, PermissionError),
        (400, ValueError),
        (409, ValueError),
        (413, ValueError),
        (422, ValueError),
    ],
)
def test_the_hub_maps_refusals_onto_the_folder_stores_exceptions(
    status: int, expected: type[Exception]
) -> None:
    mapped = folder_error(APIError(status, "refused"))
    assert type(mapped) is expected and str(mapped) == "refused"


def test_the_hub_keeps_failures_it_has_no_counterpart_for() -> None:
    failure = APIError(503, "no healthy worker")
    assert folder_error(failure) is failure
    lost = ConnectionFailed("cannot reach")
    assert folder_error(lost) is lost
