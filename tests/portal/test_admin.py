"""The admin pages in a real browser: users (groups, quota, one-time links, browsers), keys,
the compute policy, prices by month, contributions, everyone's jobs and the workers; and that a
user can neither open them nor post to them."""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, insert, make_url, select, text

from hakutaku.accounting.periods import current_period, next_period
from hakutaku.compute.policy import parse_policy, shipped_policy
from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Job, User
from hakutaku.db.session import Database, normalise_url
from hakutaku.portal.pages.admin_common import PAGE_SIZE
from hakutaku.portal.pages.admin_jobs import _load
from hakutaku.portal.pages.admin_policy import policy_toml
from tests.conftest import TEST_MODELS
from tests.portal.conftest import PASSWORD, add_user, shot, sign_in
from tests.support.processes import Platform

# Every admin page, and every admin form with a body that would change something.
ADMIN_PAGES = (
    "/admin",
    "/admin/users",
    "/admin/users/bob",
    "/admin/keys",
    "/admin/policy",
    "/admin/prices",
    "/admin/contributions",
    "/admin/jobs",
    "/admin/workers",
    "/admin/workers/live",
)
ADMIN_FORMS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/admin/users", {"name": "mallory", "role": "admin"}),
    ("/admin/users/bob/groups", {"groups": "cms"}),
    ("/admin/users/alice/role", {"role": "admin"}),
    ("/admin/users/bob/disabled", {"disabled": "1"}),
    ("/admin/users/bob/quota", {"max_bytes": "1T"}),
    ("/admin/users/bob/quota/reset", {}),
    ("/admin/users/bob/password", {"new_password": "x" * 12, "repeat_password": "x" * 12}),
    ("/admin/users/bob/login-link", {"hours": "24"}),
    ("/admin/users/bob/sessions/1/revoke", {}),
    ("/admin/keys/1/revoke", {}),
    ("/admin/keys/1/rate-limit", {"rate_limit": "1"}),
    ("/admin/policy", {"toml": "[partitions.x]\n"}),
    ("/admin/prices", {"resource": "cpu", "price": "0"}),
    ("/admin/prices/remove", {"resource": "cpu"}),
    ("/admin/contributions", {"account": "cms", "resource": "cpu", "hours_per_month": "1"}),
    ("/admin/contributions/1/end", {}),
)


@pytest.fixture
def admin(page: Any, portal: Platform) -> Any:
    """The page, signed in as the admin `root`; confirmation dialogs are accepted."""
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, portal, "root")
    return page


def user_key(p: Platform, name: str) -> str:
    with p.http() as h:
        r = h.post("/api/keys", json={"user": name, "name": "tests"})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


def cookie_client(page: Any, p: Platform) -> httpx.Client:
    """An HTTP client with the browser's session cookie (its CSRF token is the page's)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    return httpx.Client(base_url=p.url, cookies={"hai_session": cookie["value"]}, timeout=30)


# -- refusals -------------------------------------------------------------------------------------


def test_a_user_can_neither_open_nor_post_to_admin_pages(portal: Platform, page: Any) -> None:
    page.goto(f"{portal.url}/admin/users")  # signed out: the sign-in form, then back here
    assert "/login?next=/admin/users" in page.url
    sign_in(page, portal, "alice")
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0  # not in her menu
    for path in ADMIN_PAGES:
        response = page.goto(f"{portal.url}{path}")
        assert response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert "This page is for admins." in page.get_by_role("main").inner_text()
    shot(page, "admin-forbidden")
    token = page.evaluate("document.body.dataset.csrf")
    with cookie_client(page, portal) as h:
        for path, form in ADMIN_FORMS:
            # her own, valid CSRF token: still refused, as form field and as htmx header
            forged = h.post(path, data={**form, "csrf_token": token})
            assert forged.status_code == 403, (path, forged.status_code)
            assert "This page is for admins." in forged.text
            assert h.post(path, data=form, headers={"x-csrf-token": token}).status_code == 403
        assert h.get("/api/users").status_code == 403  # nor through the API
    with portal.http() as h:  # and nothing changed
        users = {u["name"]: u for u in h.get("/api/users").json()}
        assert "mallory" not in users
        assert users["alice"]["role"] == "user" and not users["bob"]["disabled"]
        assert users["bob"]["groups"] == ["atlas"]
        assert "x" not in [p["name"] for p in h.get("/api/compute/policy").json()["partitions"]]


# -- users ----------------------------------------------------------------------------------------


def test_an_admin_adds_a_user_sets_groups_and_quota_and_makes_a_one_time_link(
    portal: Platform, admin: Any, browser: Any
) -> None:
    page = admin
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    shot(page, "admin-overview")
    page.get_by_role("navigation", name="Admin pages").get_by_role("link", name="Users").click()
    page.get_by_text("Add a user", exact=True).click()  # the form opens
    page.get_by_label("User name").fill("erin")
    page.get_by_label("E-mail (optional)").fill("erin@ihep.example")
    page.get_by_label("Groups (optional)").fill("cms atlas")
    page.get_by_role("button", name="Add user").click()
    page.wait_for_url(f"{portal.url}/admin/users/erin?done=added")
    assert "The user was added" in page.get_by_role("status").inner_text()
    expect(page.get_by_label("Groups", exact=True)).to_have_value("atlas, cms")

    page.get_by_label("Groups", exact=True).fill("cms, lhcb")
    page.get_by_role("button", name="Save groups").click()
    assert page.get_by_role("status").inner_text() == "The groups are saved."
    page.get_by_label("Most bytes").fill("2G")
    page.get_by_label("Most files").fill("1000")
    page.get_by_role("button", name="Save quota").click()
    assert page.get_by_role("status").inner_text() == "The storage quota is saved."
    expect(page.get_by_label("Most bytes")).to_have_value("2G")
    with portal.http() as h:
        assert h.get("/api/users/erin").json()["groups"] == ["cms", "lhcb"]
        quota = h.get("/api/files/quota", params={"user": "erin"}).json()
    assert quota["max_bytes"] == 2 * 1024**3 and quota["max_files"] == 1000 and quota["custom"]

    # a size the platform cannot read: refused with the reader's words, the text kept
    page.get_by_label("Most bytes").fill("lots")
    page.get_by_role("button", name="Save quota").click()
    assert "Cannot read the size 'lots'" in page.get_by_role("alert").inner_text()
    expect(page.get_by_label("Most bytes")).to_have_value("lots")

    page.get_by_label("The link works for").select_option(label="3 days")
    page.get_by_role("button", name="Make a sign-in link").click()
    link = page.get_by_label("Sign-in link", exact=True).inner_text().strip()
    assert link.startswith(f"{portal.url}/login/link/hai-link.")
    shot(page, "admin-user-link")
    page.goto(f"{portal.url}/admin/users/erin")
    assert link not in page.content()  # shown once only
    shot(page, "admin-user")

    other = browser.new_context()
    try:
        erin = other.new_page()
        erin.goto(link)
        erin.wait_for_url(f"{portal.url}/profile?set_password=1")
        expect(erin.get_by_role("heading", name="erin")).to_be_visible()
        erin.get_by_role("button", name="Sign out", exact=True).click()
        erin.goto(link)  # used up
        assert "used or has expired" in erin.get_by_role("alert").inner_text()
    finally:
        other.close()


def test_adding_a_user_is_refused_with_the_services_words(portal: Platform, admin: Any) -> None:
    page = admin
    page.goto(f"{portal.url}/admin/users")
    page.get_by_text("Add a user", exact=True).click()
    for name, words in (("no spaces", "invalid user name"), ("root", "already exists")):
        page.get_by_label("User name").fill(name)
        page.get_by_label("Groups (optional)").fill("cms")
        page.get_by_role("button", name="Add user").click()
        assert words in page.get_by_role("alert").inner_text()
        expect(page.get_by_label("User name")).to_have_value(name)  # kept for a fix
    shot(page, "admin-users-refused")


def test_the_user_list_is_searched_and_paged(portal: Platform, admin: Any) -> None:
    with portal.http() as h:
        for i in range(55):
            r = h.post("/api/users", json={"name": f"pager-{i:02d}", "email": f"p{i}@lab.example"})
            assert r.status_code == 201, r.text
    page = admin
    page.goto(f"{portal.url}/admin/users")
    total = len(portal.http().get("/api/users").json())
    expect(page.get_by_text(f"{total} users")).to_be_visible()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    shot(page, "admin-users")
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    # typing searches as you type (htmx), by name or e-mail
    page.goto(f"{portal.url}/admin/users")
    page.get_by_label("Search").fill("p4")
    expect(page.get_by_text("11 users · matching “p4”")).to_be_visible()  # p4, p40-p49
    assert "q=p4" in page.url  # the search is in the address, for the back button and links
    page.get_by_label("Search").fill("pager-07")
    expect(page.get_by_role("link", name="pager-07")).to_be_visible()
    expect(page.get_by_text("1 user · matching")).to_be_visible()
    page.reload()  # the address alone gives the whole page, filtered
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("pager-07")
    page.go_back()  # to the earlier search, asked again (nothing is kept in the browser)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("p4")
    assert page.evaluate("Object.keys(localStorage).length") == 0
    page.get_by_role("search").get_by_label("Role").select_option("admin")
    expect(page.get_by_text("No user matches.")).to_be_visible()


def test_an_admin_disables_a_user_changes_their_role_and_signs_out_their_browser(
    portal: Platform, admin: Any, browser: Any
) -> None:
    add_user(portal, "dave")
    key = user_key(portal, "dave")
    other = browser.new_context()
    try:
        dave = other.new_page()
        sign_in(dave, portal, "dave")
        page = admin
        page.goto(f"{portal.url}/admin/users/dave")
        sessions = page.get_by_role("region", name="Signed-in browsers")
        expect(sessions.get_by_role("row")).to_have_count(2)  # header + dave's browser
        sessions.get_by_role("button", name="Sign out browser 1").click()
        assert page.get_by_role("status").inner_text() == "That browser was signed out."
        dave.goto(f"{portal.url}/profile")
        assert "/login" in dave.url

        page.get_by_label("Role", exact=True).select_option("admin")
        page.get_by_role("button", name="Save role").click()
        assert "The role is saved" in page.get_by_role("status").inner_text()
        with portal.http(key) as h:
            assert h.get("/api/users").status_code == 200  # an admin now, at once

        page.get_by_role("button", name="Disable user").click()
        assert "The user is disabled" in page.get_by_role("status").inner_text()
        shot(page, "admin-user-disabled")
        with portal.http(key) as h:
            assert h.get("/api/me").status_code == 401
        dave.goto(f"{portal.url}/login")
        dave.get_by_label("User name").fill("dave")
        dave.get_by_label("Password").fill(PASSWORD)
        dave.get_by_role("button", name="Sign in", exact=True).click()
        assert "disabled" in dave.get_by_role("alert").inner_text()
        page.get_by_role("button", name="Make a sign-in link").click()
        assert "dave is disabled: enable them first" in page.get_by_role("alert").inner_text()

        page.get_by_role("button", name="Enable user").click()
        assert page.get_by_role("status").inner_text() == "The user is enabled again."
        sign_in(dave, portal, "dave")
    finally:
        other.close()


def test_an_admin_cannot_lock_themselves_out(portal: Platform, admin: Any) -> None:
    page = admin
    page.goto(f"{portal.url}/admin/users/root")
    expect(page.get_by_role("button", name="Disable user")).to_be_disabled()
    page.get_by_label("Role", exact=True).select_option("user")
    page.get_by_role("button", name="Save role").click()
    assert "cannot take away your own admin role" in page.get_by_role("alert").inner_text()
    with portal.http() as h:
        assert h.get("/api/users/root").json()["role"] == "admin"


def test_an_admin_sets_a_password_and_weak_ones_are_refused(
    portal: Platform, admin: Any, browser: Any
) -> None:
    add_user(portal, "frankfurter")
    page = admin
    page.goto(f"{portal.url}/admin/users/frankfurter")
    page.get_by_label("New password", exact=True).fill("frankfurter")
    page.get_by_label("New password again").fill("frankfurter")
    page.get_by_role("button", name="Set password").click()
    assert "must not be the user name" in page.get_by_role("alert").inner_text()
    page.get_by_label("New password", exact=True).fill("a long new passphrase")
    page.get_by_label("New password again").fill("a long new passphrase!")
    page.get_by_role("button", name="Set password").click()
    assert "The two passwords differ" in page.get_by_role("alert").inner_text()
    page.get_by_label("New password", exact=True).fill("a long new passphrase")
    page.get_by_label("New password again").fill("a long new passphrase")
    page.get_by_role("button", name="Set password").click()
    assert "The password is set" in page.get_by_role("status").inner_text()
    other = browser.new_context()
    try:
        sign_in(other.new_page(), portal, "frankfurter", "a long new passphrase")
    finally:
        other.close()


# -- keys -----------------------------------------------------------------------------------------


def test_an_admin_sets_a_keys_rate_limit_and_revokes_it(portal: Platform, admin: Any) -> None:
    key = user_key(portal, "bob")
    prefix = key.removeprefix("hai-").split(".")[0]
    page = admin
    page.goto(f"{portal.url}/admin/keys")
    page.get_by_label("User", exact=True).fill("bob")
    page.get_by_role("button", name="Show").click()
    row = page.get_by_role("row").filter(has_text=prefix)
    expect(row).to_contain_text("bob")
    shot(page, "admin-keys")
    # the browser will not send a limit below 1 (min=1); the server refuses one in any case
    key_id = row.get_by_role("spinbutton").evaluate("e => e.form.action.split('/').at(-2)")
    token = page.evaluate("document.body.dataset.csrf")
    with cookie_client(page, portal) as h:
        refused = h.post(
            f"/admin/keys/{key_id}/rate-limit", data={"rate_limit": "0", "csrf_token": token}
        )
    assert refused.status_code == 400 and "invalid rate_limit 0" in refused.text
    row.get_by_role("spinbutton", name=f"Rate limit of key {prefix}").fill("30")
    row.get_by_role("button", name=f"Save the rate limit of key {prefix}").click()
    assert page.get_by_role("status").inner_text() == "The key's rate limit is saved."
    assert "user=bob" in page.url  # back to the same filtered list
    with portal.http() as h:
        listed = {k["prefix"]: k for k in h.get("/api/keys", params={"user": "bob"}).json()}
    assert listed[prefix]["rate_limit"] == 30
    with portal.http(key) as h:
        assert h.get("/api/me").status_code == 200
    page.get_by_role("row").filter(has_text=prefix).get_by_role(
        "button", name=f"Revoke key {prefix}"
    ).click()
    assert "revoked" in page.get_by_role("status").inner_text()
    with portal.http(key) as h:
        assert h.get("/api/me").status_code == 401
    page.goto(f"{portal.url}/admin/keys?user=nobody")
    assert "no user named 'nobody'" in page.get_by_role("alert").inner_text()


# -- compute policy -------------------------------------------------------------------------------

NEW_POLICY = """
default_partition = "cpu"

[partitions.cpu]
accelerator = "cpu"
default_time = "1:00:00"
max_time = "3-00:00:00"
qos = ["normal", "long"]
default_qos = "normal"

[partitions.bigmem]
accelerator = "cpu"
nodes = ["fat[01-02]"]
default_time = "2:00:00"
max_time = "7-00:00:00"
qos = ["long"]
default_qos = "long"
description = "2 TB nodes"

[qos.normal]
priority = 10
max_submit_pu = 100

[qos.long]
priority = 0
max_tres_pu = "cpu=64,mem=2T"
max_wall = "7-00:00:00"
max_submit_pu = 4
"""


def test_policy_toml_gives_back_the_same_policy() -> None:
    for name in ("laptop", "institute"):
        policy = shipped_policy(name)
        assert parse_policy(tomllib.loads(policy_toml(policy))) == policy
    odd = parse_policy(tomllib.loads('[partitions."a b"]\ndescription = "say \\"hi\\"\\n"\n'))
    assert parse_policy(tomllib.loads(policy_toml(odd))) == odd


def test_an_admin_applies_a_policy_and_a_broken_one_is_refused_with_its_message(
    portal: Platform, admin: Any, tmp_path: Any
) -> None:
    page = admin
    page.goto(f"{portal.url}/admin/policy")
    partitions = page.get_by_role("region", name="Partitions")
    expect(partitions.get_by_role("rowheader", name="cpu (default)")).to_be_visible()
    expect(
        page.get_by_role("region", name="QOS").get_by_role("rowheader", name="debug")
    ).to_be_visible()
    # the form holds the current policy as TOML: applied unchanged, it changes nothing
    page.get_by_role("button", name="Apply policy").click()
    assert "The policy is applied" in page.get_by_role("status").inner_text()

    broken = NEW_POLICY.replace('qos = ["long"]', 'qos = ["long", "ghost"]')
    page.get_by_label("Policy (TOML)").fill(broken)
    page.get_by_role("button", name="Apply policy").click()
    alert = page.get_by_role("alert").inner_text()
    assert alert == (
        "the policy sent: Partition 'bigmem' names QOS 'ghost', which is not defined; add "
        "[qos.ghost] or remove it from the partition."
    )
    expect(page.get_by_label("Policy (TOML)")).to_have_value(broken)  # kept, to fix it
    shot(page, "admin-policy-refused")
    page.get_by_label("Policy (TOML)").fill("[partitions.cpu\naccelerator = 'cpu'")
    page.get_by_role("button", name="Apply policy").click()
    assert "The policy sent is not valid TOML" in page.get_by_role("alert").inner_text()
    with portal.http() as h:
        assert "bigmem" not in [
            p["name"] for p in h.get("/api/compute/policy").json()["partitions"]
        ]

    # a file, uploaded, is applied instead of the text
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(NEW_POLICY)
    page.get_by_label("Or a policy file").set_input_files(str(policy_file))
    page.get_by_role("button", name="Apply policy").click()
    assert "The policy is applied" in page.get_by_role("status").inner_text()
    expect(page.get_by_role("rowheader", name="bigmem")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="bigmem")).to_contain_text("2 TB nodes")
    expect(page.get_by_role("row").filter(has_text="cpu=64,mem=2T")).to_be_visible()
    shot(page, "admin-policy")
    with portal.http() as h:
        now = h.get("/api/compute/policy").json()
        assert [p["name"] for p in now["partitions"]] == ["bigmem", "cpu"]
        assert {q["name"]: q["max_submit_pu"] for q in now["qos"]} == {"long": 4, "normal": 100}
        # the shipped policy again, for the other tests
        laptop = shipped_policy("laptop").to_dict()
        assert h.put("/api/compute/policy", json={"policy": laptop}).status_code == 200


# -- prices and contributions ---------------------------------------------------------------------


def test_an_admin_changes_a_price_and_the_new_price_shows(portal: Platform, admin: Any) -> None:
    this_month, next_month = current_period(), next_period(current_period())
    page = admin
    page.goto(f"{portal.url}/admin/prices")
    expect(page.get_by_role("heading", name=f"Prices in {this_month}")).to_be_visible()
    page.get_by_label("Resource", exact=True).fill("gpu:a800")
    page.get_by_label("Price", exact=True).fill("-1")
    page.get_by_role("button", name="Set price").click()
    assert "a price must be a number >= 0" in page.get_by_role("alert").inner_text()
    expect(page.get_by_label("Resource", exact=True)).to_have_value("gpu:a800")
    page.get_by_label("Price", exact=True).fill("12.5")
    page.get_by_role("button", name="Set price").click()
    assert page.get_by_role("status").inner_text() == "The price is set."
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="gpu:a800"))
    expect(row).to_contain_text("12.5 CNY")
    expect(row).to_contain_text("hour")

    # from next month on: this month keeps its price
    page.get_by_label("Resource", exact=True).fill("gpu:a800")
    page.get_by_label("Price", exact=True).fill("20")
    page.get_by_label("From month").fill(next_month)
    page.get_by_role("button", name="Set price").click()
    expect(page.get_by_role("heading", name=f"Prices in {next_month}")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="gpu:a800")).to_contain_text("20 CNY")
    shot(page, "admin-prices")
    key = user_key(portal, "alice")  # everyone may read prices
    with portal.http(key) as h:
        now = h.get("/api/prices/gpu:a800", params={"period": this_month}).json()
        later = h.get("/api/prices/gpu:a800", params={"period": next_month}).json()
    assert (now["price"], later["price"]) == ("12.5", "20")

    # removed from next month on: unpriced then (the shipped gpu price does not come back)
    page.get_by_role("button", name=f"Remove the price of gpu:a800 from {next_month}").click()
    assert "removed" in page.get_by_role("status").inner_text()
    expect(page.get_by_role("rowheader", name="gpu:a800")).to_have_count(0)
    page.get_by_label("Show every change").check()
    page.get_by_role("button", name="Show").click()
    history = page.get_by_role("region", name="Every change")
    for change in (f"{this_month} 12.5 CNY", f"{next_month} removed"):
        row_name = re.compile(rf"^gpu:a800 {re.escape(change)}")
        expect(history.get_by_role("row", name=row_name)).to_be_visible()
    shot(page, "admin-prices-history")
    with portal.http(key) as h:
        assert h.get("/api/prices/gpu:a800", params={"period": next_month}).status_code == 404
        assert h.get("/api/prices/gpu:a800").json()["price"] == "12.5"
    page.goto(f"{portal.url}/admin/prices?period=2025-13")
    assert "invalid period '2025-13'" in page.get_by_role("alert").inner_text()


def test_an_admin_records_and_ends_a_contribution(portal: Platform, admin: Any) -> None:
    page = admin
    page.goto(f"{portal.url}/admin/contributions")
    page.get_by_label("Group").fill("cms")
    page.get_by_label("Resource").fill("gpu:a800")
    page.get_by_label("Hours a month").fill("720")
    page.get_by_label("First month").fill("2025-01")
    page.get_by_label("Last month (optional)").fill("2024-06")
    page.get_by_role("button", name="Record contribution").click()
    assert "until (2024-06) is before since (2025-01)" in page.get_by_role("alert").inner_text()
    page.get_by_label("Last month (optional)").fill("")
    page.get_by_role("button", name="Record contribution").click()
    assert page.get_by_role("status").inner_text() == "The contribution is recorded."
    with portal.http() as h:
        made = h.get("/api/contributions", params={"account": "cms"}).json()[-1]
    assert (made["resource"], made["hours_per_month"], made["until"]) == ("gpu:a800", "720", None)
    row = page.get_by_role("row").filter(has_text="gpu:a800")
    expect(row).to_contain_text("open")
    shot(page, "admin-contributions")
    row.get_by_label(f"Last month of contribution {made['id']}").fill("2025-03")
    row.get_by_role("button", name=f"End contribution {made['id']} of cms").click()
    assert "The contribution is ended" in page.get_by_role("status").inner_text()
    expect(page.get_by_role("row").filter(has_text="gpu:a800")).to_contain_text("2025-03")
    with portal.http() as h:
        assert h.get("/api/contributions", params={"account": "cms"}).json()[-1]["until"] == (
            "2025-03"
        )


# -- jobs and workers -----------------------------------------------------------------------------


def test_an_admin_sees_every_users_jobs(portal: Platform, admin: Any) -> None:
    ids: dict[str, int] = {}
    for owner in ("alice", "bob"):
        with portal.http(user_key(portal, owner)) as h:
            r = h.post("/api/jobs", json={"command": ["true"], "name": f"{owner}-job"})
            assert r.status_code == 201, r.text
            ids[owner] = r.json()["id"]
    page = admin
    page.goto(f"{portal.url}/admin/jobs")
    for owner, job in ids.items():
        link = page.get_by_role("link", name=f"Job {job}", exact=True)
        expect(link).to_have_attribute("href", f"/jobs/{job}")
        expect(page.get_by_role("row").filter(has=link)).to_contain_text(owner)
    shot(page, "admin-jobs")
    page.get_by_label("User", exact=True).fill("alice")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=f"Job {ids['alice']}", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"Job {ids['bob']}", exact=True)).to_have_count(0)
    states = page.get_by_role("navigation", name="Jobs by state")
    expect(states.get_by_role("link", name=re.compile(r"^all 1$"))).to_be_visible()
    shot(page, "admin-jobs-alice")
    page.goto(f"{portal.url}/admin/jobs?state=lost")
    assert "Unknown state(s) lost" in page.get_by_role("alert").inner_text()
    page.goto(f"{portal.url}/admin/jobs?user=nobody")
    assert "no user named 'nobody'" in page.get_by_role("alert").inner_text()


def fresh_postgres_database(server_url: str) -> str:
    name = f"admin_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(normalise_url(server_url)).set(database=name).render_as_string(False)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_job_pages_walk_every_job_once_both_ways(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":  # where one user's pages are ordered by an expression
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    db = Database(url)
    count = 2 * PAGE_SIZE + 7
    with db.session() as s:
        s.add_all([User(name="ann"), User(name="ben")])
        s.flush()
        rows = [
            {
                "user_id": 1 + i % 2,
                "name": f"j{i}",
                "partition": "cpu",
                "qos": "normal",
                "time_limit": 60,
                "backend": "local",
                "state": "completed" if i % 3 else "failed",
            }
            for i in range(count)
        ]
        s.execute(insert(Job), rows)
    with db.session() as s:
        assert _load(s, "", "", None, None)["counts"] is None  # no whole-table count
        ann_ids = [r.id for r in s.execute(select(Job.id).where(Job.user_id == 1))]
        for owner, ids in (("", list(range(1, count + 1))), ("ann", ann_ids)):
            expected = sorted(ids, reverse=True)
            seen: list[int] = []
            page = _load(s, owner, "", None, None)
            assert page["newer"] is None
            while True:
                seen += [j["id"] for j in page["jobs"]]
                if page["older"] is None:
                    break
                page = _load(s, owner, "", page["older"], None)
            assert seen == expected, owner
            # and back from the oldest page to the newest, through every job newer than it
            oldest_shown = page["jobs"][0]["id"]
            back: list[int] = []
            while page["newer"] is not None:
                page = _load(s, owner, "", None, page["newer"])
                back = [j["id"] for j in page["jobs"]] + back
            assert back == [i for i in expected if i > oldest_shown], owner
        ann = _load(s, "ann", "failed", None, None)
        assert {j["user"] for j in ann["jobs"]} == {"ann"}
        assert {j["state"] for j in ann["jobs"]} == {"failed"}
        assert ann["counts"]["failed"] + ann["counts"]["completed"] == ann["total"] == 54
    db.dispose()


@pytest.fixture
def lab_worker(portal: Platform) -> Iterator[Any]:
    proc = portal.start_worker(TEST_MODELS + ":Lab")
    try:
        yield proc
    finally:
        proc.stop()
        portal.workers.remove(proc)


def test_the_workers_page_shows_live_workers_and_models_without_one(
    portal: Platform, admin: Any, lab_worker: Any
) -> None:
    page = admin
    page.goto(f"{portal.url}/admin/workers")
    row = page.get_by_role("row").filter(has_text=f"{lab_worker.pid}")
    expect(row).to_contain_text("lab")
    expect(row).to_contain_text("live")
    expect(row).not_to_contain_text("not live")
    shot(page, "admin-workers")
    # a worker that registers and never beats: the page picks it up by itself, then sees it
    # go silent, and its model is left without a live worker
    with httpx.Client(base_url=portal.url, timeout=30) as h:
        r = h.post(
            "/api/workers/register",
            json={"model": "ghost", "url": "http://127.0.0.1:9", "host": "nowhere"},
            headers={"authorization": f"Bearer {portal.worker_token}"},
        )
        assert r.status_code == 200, r.text
    idle = page.get_by_role("region", name="Models without a live worker")
    expect(idle.get_by_role("cell", name="ghost", exact=True)).to_be_visible(timeout=15_000)
    expect(idle.get_by_role("cell", name="lab", exact=True)).to_have_count(0)
    shot(page, "admin-workers-idle")


def test_the_overview_counts_users_and_links_every_admin_page(portal: Platform, admin: Any) -> None:
    with portal.http() as h:
        users = len(h.get("/api/users").json())
    page = admin
    page.goto(f"{portal.url}/admin")
    cards = page.get_by_role("article")
    users_card = cards.filter(has=page.get_by_role("heading", name="Users"))
    expect(users_card).to_contain_text(str(users))
    for name in ("Keys", "All jobs", "Workers", "Compute policy", "Prices", "Contributions"):
        heading = page.get_by_role("heading", name=name, exact=True)
        expect(cards.filter(has=heading).get_by_role("link", name=name)).to_be_visible()
