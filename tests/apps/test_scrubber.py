"""The proxy's scrubber: an app's secret never passes to the browser, even split across chunks."""

from __future__ import annotations

import itertools

from hakutaku.apps.proxy import Scrubber

SECRET = b"s3cr3t-XY_z"


def _through(parts: list[bytes]) -> bytes:
    scrubber = Scrubber(SECRET)
    return b"".join(scrubber.feed(p) for p in parts) + scrubber.end()


def test_the_secret_is_hidden_at_every_split_point() -> None:
    page = b'{"token": "' + SECRET + b'", "other": "' + SECRET + b'"}'
    expected = page.replace(SECRET, b"[hidden]")
    for i, j in itertools.combinations(range(len(page) + 1), 2):
        assert _through([page[:i], page[i:j], page[j:]]) == expected


def test_text_without_the_secret_passes_unchanged_byte_by_byte() -> None:
    text = b"s3cr3t-XY almost the secret, s3cr3t-XY_ also not"
    assert _through([bytes([b]) for b in text]) == text
    # pieces that only form the secret once joined by the replacement do not reappear
    assert SECRET not in _through([b"s3cr3t-", SECRET, b"XY_z"])
