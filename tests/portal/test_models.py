"""The models pages in a real browser, against a real server with real workers: the list shows
what a user may use (as GET /v1/models does), a model page shows its methods, and the
playground calls /v1 as the signed-in user — real answers, readable errors, metered usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_MODELS
from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, wait_until

EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
EMBEDDING_MODEL = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """alice (cms), bob (atlas); workers: `lab` (public), `cms/lab` (cms only), embeddings."""
    p = Platform(tmp_path_factory.mktemp("models") / "home", HAI_DEMO_WORKERS="false")
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        p.start_worker(TEST_MODELS + ":Lab")
        p.start_worker(TEST_MODELS + ":Lab", name="cms/lab")
        with p.http() as h:
            r = h.patch("/api/models/cms/lab", json={"public": False, "groups": ["cms"]})
            assert r.status_code == 200, r.text
        p.start_worker(EMBEDDING, wait=180)
        yield p
    finally:
        p.stop()


def visible_names(page: Any) -> list[str]:
    table = page.get_by_role("table", name="Models you may use")
    return [h.inner_text().strip() for h in table.get_by_role("rowheader").all()]


def session_cookie(page: Any) -> dict[str, str]:
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    return {"hai_session": cookie["value"]}


def test_the_list_shows_only_the_models_a_user_may_use(
    portal: Platform, browser: Any, page: Any
) -> None:
    sign_in(page, portal, "alice")
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_url(f"{portal.url}/models")
    wait_until(lambda: EMBEDDING_MODEL in visible_names(page) or page.reload(), 10, "the list")
    assert visible_names(page) == [EMBEDDING_MODEL, "cms/lab", "lab"]
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="lab", exact=True))
    assert "hosted" in row.inner_text() and "add" in row.inner_text()
    assert "chat" in row.inner_text()  # Lab answers chat completions: listed, linked nowhere
    shot(page, "models-list")

    bob = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = bob.new_page()
        sign_in(other, portal, "bob")
        other.goto(f"{portal.url}/models")
        assert visible_names(other) == [EMBEDDING_MODEL, "lab"]
        # the same rule as /v1: the API answers bob's cookie with the same names
        with httpx.Client(base_url=portal.url, cookies=session_cookie(other)) as h:
            listed = [m["id"] for m in h.get("/v1/models").json()["data"]]
        assert listed == [EMBEDDING_MODEL, "lab"]
        refused = other.goto(f"{portal.url}/models/cms/lab")
        assert refused is not None and refused.status == 403
        assert "may not use the model 'cms/lab'" in other.get_by_role("article").inner_text()
        shot(other, "models-forbidden")
        missing = other.goto(f"{portal.url}/models/no/such-model")
        assert missing is not None and missing.status == 404
        assert "does not exist" in other.get_by_role("article").inner_text()
    finally:
        bob.close()


def test_a_model_page_lists_methods_with_parameters_and_docs(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/models")
    page.get_by_role("link", name="cms/lab", exact=True).click()
    page.wait_for_url(f"{portal.url}/models/cms/lab")
    assert page.get_by_role("heading", level=1).inner_text() == "cms/lab"
    methods = page.get_by_role("region", name="Methods")
    add = methods.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="add", exact=True)
    )
    assert "a, b" in add.inner_text() and "one value" in add.inner_text()
    count = methods.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="count", exact=True)
    )
    assert "a stream of items" in count.inner_text()
    whoami = methods.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="whoami", exact=True)
    )
    assert "The worker's process id" in whoami.inner_text()
    shot(page, "models-page")


def test_the_playground_returns_the_real_answer_and_meters_it(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/models/lab")
    page.get_by_label("Call", exact=True).select_option("add")
    arguments = page.get_by_label("Arguments (JSON)")
    assert arguments.input_value().replace(" ", "").replace("\n", "") == '{"a":null,"b":null}'
    arguments.fill('{"a": 2, "b": 40}')
    page.get_by_role("button", name="Send").click()
    status = page.get_by_role("status", name="Answer status")
    status.filter(has_text="200").wait_for()
    assert status.inner_text().startswith("200 OK · ")
    assert page.get_by_label("Answer body").inner_text() == "42"
    assert page.get_by_role("alert").filter(has_text="JSON").count() == 0
    shot(page, "models-playground-answer")

    # a generator method: its items, as a list
    page.get_by_label("Call", exact=True).select_option("count")
    page.get_by_label("Arguments (JSON)").fill('{"n": 3}')
    page.get_by_role("button", name="Send").click()
    page.get_by_label("Answer body").filter(has_text="square").wait_for()
    assert '"square": 4' in page.get_by_label("Answer body").inner_text()

    # the calls are alice's, in her usage
    def counted() -> dict[str, int]:
        with httpx.Client(base_url=portal.url, cookies=session_cookie(page)) as h:
            rows = h.get("/api/usage", params={"model": "lab"}).json()
        return {r["method"]: r["calls"] for r in rows if r["user"] == "alice"}

    assert wait_until(
        lambda: counted().get("add") == 1 and counted().get("count") == 1, 10, "usage"
    )


def test_playground_errors_are_shown_readably(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/models/lab")
    call = page.get_by_label("Call", exact=True)
    arguments = page.get_by_label("Arguments (JSON)")
    send = page.get_by_role("button", name="Send")

    arguments.fill('{"a": 2,')  # not JSON: refused before it is sent
    send.click()
    assert page.get_by_role("alert").inner_text().startswith("The arguments are not valid JSON:")
    arguments.fill("[1, 2]")
    send.click()
    assert "must be a JSON object" in page.get_by_role("alert").inner_text()

    call.select_option("add")
    arguments.fill('{"a": 2}')  # the worker's refusal, as the API gives it
    send.click()
    alert = page.get_by_role("alert")
    alert.filter(has_text="b").wait_for()
    assert page.get_by_role("status", name="Answer status").inner_text().startswith("400")
    assert "'b'" in alert.inner_text()
    assert '"type": "invalid_request_error"' in page.get_by_label("Answer body").inner_text()

    call.select_option("fail")
    arguments.fill('{"message": "the detector is off"}')
    send.click()
    page.get_by_role("alert").filter(has_text="the detector is off").wait_for()
    assert page.get_by_role("status", name="Answer status").inner_text().startswith("500")
    shot(page, "models-playground-error")


def test_embeddings_in_the_playground(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "bob")
    page.goto(f"{portal.url}/models/{EMBEDDING_MODEL}")
    call = page.get_by_label("Call", exact=True)
    assert call.input_value() == "embeddings"
    page.get_by_label("Arguments (JSON)").fill('{"input": ["jet", "b-tagging"]}')
    page.get_by_role("button", name="Send").click()
    page.get_by_role("status", name="Answer status").filter(has_text="200").wait_for()
    body = page.get_by_label("Answer body").inner_text()
    assert '"object": "list"' in body and '"index": 1' in body and '"embedding"' in body
    shot(page, "models-playground-embeddings")
    page.get_by_label("Arguments (JSON)").fill('{"input": []}')
    page.get_by_role("button", name="Send").click()
    page.get_by_role("alert").filter(has_text="empty").wait_for()


def test_the_playground_api_calls_need_the_pages_csrf_token(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "bob")
    with httpx.Client(base_url=portal.url, cookies=session_cookie(page)) as h:
        refused = h.post("/v1/models/lab/add", json={"a": 1, "b": 2})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        token = page.evaluate("document.body.dataset.csrf")
        made = h.post("/v1/models/lab/add", json={"a": 1, "b": 2}, headers={"x-csrf-token": token})
        assert made.status_code == 200 and made.json() == 3
        private = h.post(
            "/v1/models/cms/lab/add", json={"a": 1, "b": 2}, headers={"x-csrf-token": token}
        )
        assert private.status_code == 403
