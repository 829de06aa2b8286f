"""Every SDK resource against a real server: what it returns, and how each refuses (APIError
with the platform's status and code)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hakutaku import Client
from hakutaku.sdk import APIError, ChecksumMismatch
from tests.conftest import TEST_MODELS
from tests.sdk.conftest import Lab
from tests.support.processes import wait_until


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> APIError:
    """The APIError `call` raises."""
    with pytest.raises(APIError) as info:
        call(*args, **kwargs)
    return info.value


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def torch_file(path: Path) -> str:
    """A file shaped like torch.save's output (a zip holding data.pkl), without torch; its
    sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("weights/data.pkl", b"not really pickled")
        archive.writestr("weights/version", b"3\n")
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def test_users(lab: Lab) -> None:
    added = lab.admin.users.add("ulla", groups=["lhcb"], email="ulla@example.org")
    assert (added["name"], added["role"], added["groups"]) == ("ulla", "user", ["lhcb"])
    assert lab.admin.users.get("ulla")["email"] == "ulla@example.org"
    assert {"admin", "alice", "bob", "ulla"} <= {u["name"] for u in lab.admin.users.list()}
    assert lab.admin.users.update("ulla", groups=["cms", "lhcb"])["groups"] == ["cms", "lhcb"]
    assert lab.admin.users.disable("ulla")["disabled"] is True
    assert lab.admin.users.enable("ulla")["disabled"] is False
    assert lab.alice.users.me()["groups"] == ["cms"]

    missing = refused(lab.admin.users.get, "nobody")
    assert (missing.status, missing.code, missing.type) == (404, "not_found", "not_found_error")
    taken = refused(lab.admin.users.add, "ulla")
    assert (taken.status, taken.code) == (409, "conflict")
    denied = refused(lab.alice.users.list)
    assert (denied.status, denied.code) == (403, "permission_denied")
    bad_role = refused(lab.admin.users.update, "ulla", role="root")
    assert (bad_role.status, bad_role.code, bad_role.param) == (400, "invalid_request", "role")


def test_keys(lab: Lab) -> None:
    created = lab.admin.keys.create("alice", name="ci", rate_limit=5)
    assert created["key"].startswith("hai-") and created["rate_limit"] == 5
    assert created["id"] in {k["id"] for k in lab.admin.keys.list("alice")}
    assert created["key"] not in str(lab.admin.keys.list())
    assert lab.admin.keys.set_rate_limit(created["id"], None)["rate_limit"] is None
    with Client(lab.platform.url, created["key"]) as ci:
        assert ci.users.me()["name"] == "alice"

    expires = datetime.now(UTC) + timedelta(days=1)
    own = lab.alice.keys.create(name="laptop", expires_at=expires)
    assert own["user"] == "alice" and own["expires_at"] is not None
    assert {"ci", "laptop"} <= {k["name"] for k in lab.alice.keys.list()}
    assert lab.alice.keys.revoke(own["prefix"])["id"] == own["id"]

    unknown = refused(lab.admin.keys.revoke, "999999")
    assert (unknown.status, unknown.code) == (404, "not_found")
    own_limit = refused(lab.alice.keys.create, rate_limit=3)
    assert (own_limit.status, own_limit.code) == (403, "permission_denied")
    past = refused(lab.alice.keys.create, expires_at=datetime(2001, 1, 1, tzinfo=UTC))
    assert past.status == 400 and past.code == "invalid_request"
    too_low = refused(lab.admin.keys.set_rate_limit, created["id"], 0)
    assert too_low.status == 422 and "rate_limit" in str(too_low.param)  # as for create
    schema = refused(lab.admin.keys.create, "alice", rate_limit=0)  # the body's own schema
    assert schema.status == 422 and "rate_limit" in str(schema.param)


def test_models_registry(lab: Lab) -> None:
    added = lab.admin.models.add_upstream(
        "ext-chat",
        "http://127.0.0.1:9/v1",
        api_key="sk-secret",
        upstream_model="their-name",
        description="a provider's chat model",
    )
    assert added["kind"] == "upstream" and added["has_upstream_key"]
    listed = {m["name"]: m for m in lab.admin.models.list_all()}
    assert listed["ext-chat"]["upstream_model"] == "their-name"
    assert "sk-secret" not in str(listed)
    changed = lab.admin.models.update("ext-chat", public=False, groups=["cms"])
    assert (changed["public"], changed["groups"]) == (False, ["cms"])
    assert lab.alice.models.get("ext-chat")["kind"] == "upstream"
    assert "ext-chat" in {m["id"] for m in lab.alice.models.list()}
    assert "ext-chat" not in {m["id"] for m in lab.bob.models.list()}
    hidden = refused(lab.bob.models.get, "ext-chat")
    assert (hidden.status, hidden.code, hidden.param) == (403, "model_not_permitted", "model")
    assert lab.admin.models.remove("ext-chat") is None

    gone = refused(lab.admin.models.get, "ext-chat")
    assert (gone.status, gone.code) == (404, "model_not_found")
    not_there = refused(lab.admin.models.remove, "ext-chat")
    assert (not_there.status, not_there.code) == (404, "not_found")
    bad_url = refused(lab.admin.models.add_upstream, "x", "ftp://nowhere")
    assert bad_url.status == 400 and "invalid upstream URL" in bad_url.message
    not_admin = refused(lab.alice.models.list_all)
    assert (not_admin.status, not_admin.code) == (403, "permission_denied")


def test_model_calls_and_workers(lab: Lab) -> None:
    lab.platform.start_worker(TEST_MODELS + ":Lab")
    assert lab.alice.models.call("lab", "add", {"a": 2, "b": 40}) == 42
    streamed = lab.alice.models.call("lab", "count", {"n": 3})
    assert [item["i"] for item in streamed] == [0, 1, 2]
    [worker] = [w for w in lab.admin.workers.list() if w["model"] == "lab"]
    assert "add" in worker["methods"] and worker["pid"] == lab.platform.workers[0].pid

    no_method = refused(lab.alice.models.call, "lab", "nope")
    assert (no_method.status, no_method.code) == (404, "method_not_found")
    bad_args = refused(lab.alice.models.call, "lab", "add", {"a": 1, "zzz": 2})
    assert (bad_args.status, bad_args.code) == (400, "invalid_arguments")
    not_admin = refused(lab.alice.workers.list)
    assert (not_admin.status, not_admin.code) == (403, "permission_denied")


def test_compute(lab: Lab) -> None:
    policy = lab.alice.compute.policy()
    assert lab.alice.compute.partitions() == policy["partitions"]
    assert lab.alice.compute.qos() == policy["qos"]
    resources = lab.alice.compute.resources()
    assert resources["backend"] == "local" and resources["cpus"] >= 1
    applied = lab.admin.compute.apply_policy(policy=policy)
    assert [p["name"] for p in applied["partitions"]] == [p["name"] for p in policy["partitions"]]

    broken = refused(lab.admin.compute.apply_policy, "[partitions")
    assert (broken.status, broken.code) == (400, "invalid_policy")
    not_admin = refused(lab.alice.compute.apply_policy, "")
    assert (not_admin.status, not_admin.code) == (403, "permission_denied")
    with pytest.raises(TypeError, match="either"):
        lab.admin.compute.apply_policy()


def test_jobs(lab: Lab) -> None:
    job = lab.alice.jobs.submit(["bash", "-c", "echo one; echo two"], name="echo", mem="256M")
    assert (job["user"], job["name"], job["mem_mb"]) == ("alice", "echo", 256)
    final = lab.alice.jobs.wait(job["id"], timeout=60, poll=0.2)
    assert final["state"] == "completed" and final["exit_code"] == 0
    assert b"".join(lab.alice.jobs.logs(job["id"])) == b"one\ntwo\n"
    assert b"".join(lab.alice.jobs.logs(job["id"], offset=4)) == b"two\n"
    followed = lab.alice.jobs.submit(script="for i in 1 2; do echo $i; sleep 0.3; done")
    assert b"".join(lab.alice.jobs.logs(followed["id"], follow=True)) == b"1\n2\n"
    assert lab.alice.jobs.get(job["id"])["state"] == "completed"
    assert {job["id"], followed["id"]} <= {j["id"] for j in lab.alice.jobs.list()}
    assert job["id"] in {j["id"] for j in lab.alice.jobs.list(state="completed")}
    assert job["id"] in {j["id"] for j in lab.admin.jobs.list(everyone=True, limit=50)}
    assert lab.bob.jobs.list() == []

    ended = refused(lab.alice.jobs.cancel, job["id"])
    assert (ended.status, ended.code) == (409, "conflict")
    missing = refused(lab.alice.jobs.get, 999_999)
    assert (missing.status, missing.code) == (404, "not_found")
    others = refused(lab.bob.jobs.get, job["id"])
    assert others.status in (403, 404)
    nothing = refused(lab.alice.jobs.submit)
    assert nothing.status == 400 and "Nothing to run" in nothing.message
    sleeper = lab.alice.jobs.submit(["bash", "-c", "echo started; exec sleep 60"])
    # Cancelled once it runs (a cancel in the instant the runner starts it is another test's).
    wait_until(lambda: b"".join(lab.alice.jobs.logs(sleeper["id"])), 60, "the job to start")
    extended = lab.alice.jobs.extend(sleeper["id"], "30m")
    assert extended["time_limit"] == sleeper["time_limit"] + 1800
    too_much = refused(lab.alice.jobs.extend, sleeper["id"], "7-00:00:00")
    assert too_much.status == 400 and "ask for at most" in too_much.message
    assert refused(lab.bob.jobs.extend, sleeper["id"], 60).status == 404
    assert refused(lab.alice.jobs.extend, job["id"], "1h").status == 409  # it has ended
    assert lab.alice.jobs.cancel(sleeper["id"])["reason"] == "cancel requested"
    assert lab.alice.jobs.wait(sleeper["id"], timeout=60, poll=0.2)["state"] == "cancelled"


def test_files(lab: Lab, tmp_path: Path) -> None:
    files = lab.alice.files
    entry = files.write_bytes("notes/a.txt", b"hello")
    assert (entry["path"], entry["size"]) == ("notes/a.txt", 5)
    assert [e["name"] for e in files.list("notes")["entries"]] == ["a.txt"]
    assert files.read_bytes("notes/a.txt") == b"hello"
    local = tmp_path / "events.bin"
    local.write_bytes(bytes(range(256)) * 12)
    seen: list[int] = []
    uploaded = files.upload(
        local, "notes/events.bin", chunk_size=1000, progress=lambda d, t: seen.append(d)
    )
    assert uploaded["size"] == local.stat().st_size and seen[-1] == local.stat().st_size
    assert len(seen) > 3  # several chunks
    copy = files.download("notes/events.bin", tmp_path / "copy.bin")
    assert copy.read_bytes() == local.read_bytes()
    started = files.start_upload("notes/later.bin", 10)
    assert started["received"] == 0 and started["state"] == "open"
    assert files.send_chunk(started["id"], 0, b"01234")["received"] == 5
    assert files.progress(started["id"])["received"] == 5
    assert [u["id"] for u in files.uploads()] == [started["id"]]
    assert files.cancel_upload(started["id"])["id"] == started["id"]
    quota = files.quota()
    assert quota["user"] == "alice" and quota["used_files"] == 2 and not quota["custom"]
    assert lab.admin.files.set_quota("alice", max_files=100)["max_files"] == 100
    assert lab.admin.files.quota("alice")["custom"] is True
    assert lab.admin.files.reset_quota("alice")["custom"] is False
    assert files.delete("notes", recursive=True)["type"] == "dir"

    missing = refused(files.read_bytes, "notes/a.txt")
    assert (missing.status, missing.code) == (404, "not_found")
    files.write_bytes("again.txt", b"1")
    exists = refused(files.write_bytes, "again.txt", b"2")
    assert exists.status == 409
    denied = refused(files.set_quota, "alice", max_files=1)
    assert (denied.status, denied.code) == (403, "permission_denied")
    others = refused(lab.bob.files.list, user="alice")
    assert others.status == 403


def test_prices(lab: Lab) -> None:
    row = lab.admin.prices.set("gpu:a800", "2.50", description="A800 card-hour")
    assert (row["resource"], row["since"], row["unit"]) == ("gpu:a800", this_month(), "hour")
    assert Decimal(lab.alice.prices.get("gpu:a800")["price"]) == Decimal("2.50")
    assert "gpu:a800" in {p["resource"] for p in lab.alice.prices.list()}
    assert "gpu:a800" in {p["resource"] for p in lab.alice.prices.list(period=this_month())}
    before = {p["resource"]: p for p in lab.alice.prices.list(period="2001-01")}
    assert before.get("gpu:a800", {"since": "0001-01"})["since"] < this_month()  # unrepriced
    assert lab.admin.prices.remove("gpu:a800")["resource"] == "gpu:a800"
    history = [p for p in lab.alice.prices.list(history=True) if p["resource"] == "gpu:a800"]
    assert history[-1]["price"] is None

    gone = refused(lab.alice.prices.get, "gpu:a800")
    assert (gone.status, gone.code) == (404, "not_found")
    denied = refused(lab.alice.prices.set, "cpu", "0.01")
    assert (denied.status, denied.code) == (403, "permission_denied")
    bad_month = refused(lab.alice.prices.list, period="2026-13")
    assert bad_month.status == 400


def test_contributions(lab: Lab) -> None:
    added = lab.admin.contributions.add("cms", "gpu:a800", 720, since="2025-01")
    assert (added["account"], added["until"], Decimal(added["hours_per_month"])) == (
        "cms",
        None,
        Decimal(720),
    )
    assert added["id"] in {c["id"] for c in lab.alice.contributions.list()}
    assert lab.bob.contributions.list() == []
    assert lab.admin.contributions.list(account="cms")[0]["id"] == added["id"]
    assert lab.admin.contributions.end(added["id"])["until"] == this_month()
    assert lab.admin.contributions.remove(added["id"])["id"] == added["id"]

    missing = refused(lab.admin.contributions.end, added["id"])
    assert (missing.status, missing.code) == (404, "not_found")
    not_member = refused(lab.alice.contributions.list, account="atlas")
    assert (not_member.status, not_member.code) == (403, "permission_denied")
    bad = refused(lab.admin.contributions.add, "cms", "gpu:a800", 10, since="January")
    assert bad.status == 400


def test_usage(lab: Lab) -> None:
    counts = lab.admin.usage.collect()
    assert set(counts) == {
        "jobs",
        "job_entries",
        "model_entries",
        "workflow_tasks",
        "workflow_entries",
    }
    summary = lab.alice.usage.summary(since=datetime(2000, 1, 1, tzinfo=UTC))
    assert all(row["user"] == "alice" for row in summary)
    statement = lab.alice.usage.statement()
    assert (statement["period"], statement["user"]) == (this_month(), "alice")
    assert lab.alice.usage.statement(account="cms")["credit_applied"] is True
    rows = lab.alice.usage.ledger(limit=10)
    assert all(row["user"] == "alice" for row in rows) and len(rows) <= 10

    others = refused(lab.alice.usage.summary, user="bob")
    assert (others.status, others.code) == (403, "permission_denied")
    bad_month = refused(lab.alice.usage.statement, period="last month")
    assert bad_month.status == 400
    not_admin = refused(lab.alice.usage.collect)
    assert (not_admin.status, not_admin.code) == (403, "permission_denied")


def test_hub(lab: Lab, tmp_path: Path) -> None:
    hub = lab.alice.hub
    assert {"pfn", "part"} <= {a["name"] for a in hub.architectures.list() if a["builtin"]}
    mine = hub.architectures.add("passthrough", "torch.nn:Identity", "passes jets through")
    assert (mine["owner"], mine["builtin"]) == ("alice", False)

    weights = tmp_path / "pfn.pt"
    sha = torch_file(weights)
    card = hub.weights.push(
        "pfn", "v1", weights, config={"features": "kin"}, metrics={"auc": 0.9}, public=False
    )
    assert (card["sha256"], card["created_by"], card["public"]) == (sha, "alice", False)
    assert hub.weights.get("pfn")["version"] == "v1"
    assert [w["version"] for w in hub.weights.list("pfn")] == ["v1"]
    pulled = hub.weights.pull("pfn", "v1", tmp_path / "copy.pt")
    assert pulled.read_bytes() == weights.read_bytes()
    named = hub.weights.pull("pfn", "latest", tmp_path)
    assert named.name == "pfn-v1.pt"
    with pytest.raises(ChecksumMismatch, match="does not match"):
        hub.weights.pull("pfn", "v1", tmp_path / "bad.pt", sha256="0" * 64)
    assert not (tmp_path / "bad.pt").exists() and not (tmp_path / "bad.pt.part").exists()
    assert lab.bob.hub.weights.list("pfn") == []  # private

    taken = refused(hub.weights.push, "pfn", "v1", weights)
    assert (taken.status, taken.code) == (409, "conflict")
    unknown = refused(hub.weights.push, "resnet", "v1", weights)
    assert unknown.status == 404 and "unknown architecture" in unknown.message
    not_torch = tmp_path / "x.pt"
    not_torch.write_bytes(b"x")
    refusal = refused(hub.weights.push, "pfn", "v2", not_torch)
    assert (refusal.status, refusal.code) == (400, "not_torch_weights")
    invisible = refused(lab.bob.hub.weights.get, "pfn", "v1")
    assert (invisible.status, invisible.code) == (404, "not_found")
    hub.weights.push("pfn", "v2", weights)
    not_yours = refused(lab.bob.hub.weights.delete, "pfn", "v2")
    assert (not_yours.status, not_yours.code) == (403, "permission_denied")
    assert hub.weights.delete("pfn", "v1")["version"] == "v1"

    files = [{"path": "public/qg/train.npz", "sha256": "a" * 64, "bytes": 10, "split": "train"}]
    dataset = hub.datasets.add("qg", "1", files=files, splits={"train": 100}, licence="CC-BY")
    assert (dataset["owner"], dataset["size_bytes"]) == ("alice", 10)
    assert hub.datasets.get("qg")["splits"] == {"train": 100}
    assert "qg" in {d["name"] for d in lab.bob.hub.datasets.list()}
    assert hub.datasets.delete("qg", "1")["version"] == "1"

    missing = refused(hub.datasets.get, "qg")
    assert (missing.status, missing.code) == (404, "not_found")
    bad = refused(hub.datasets.add, "bad", files=[{**files[0], "sha256": "xyz"}])
    assert bad.status == 400 and "sha256" in bad.message
