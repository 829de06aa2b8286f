"""The `hai` commands against a real server, as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform


def hai(p: Platform, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(p.env)
    if key:
        env["HAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "hakutaku", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_and_keys(platform: Platform) -> None:
    added = hai(platform, "users", "add", "jane", "--group", "lhcb", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["groups"] == ["lhcb"]
    duplicate = hai(platform, "users", "add", "jane")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    listed = json.loads(hai(platform, "users", "list", "--json").stdout)
    assert {u["name"] for u in listed} == {"admin", "jane"}

    created = hai(platform, "keys", "create", "jane", "--name", "laptop")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("hai-") and "shown only once" in created.stderr
    me = hai(platform, "models", "list", "--json", key=key)
    assert me.returncode == 0 and json.loads(me.stdout) == []
    keys = json.loads(hai(platform, "keys", "list", "--user", "jane", "--json").stdout)
    assert [k["name"] for k in keys] == ["laptop"]
    assert key not in json.dumps(keys)  # secrets are never listed

    revoked = hai(platform, "keys", "revoke", str(keys[0]["id"]))
    assert revoked.returncode == 0, revoked.stderr
    after = hai(platform, "models", "list", key=key)
    assert after.returncode == 1 and "revoked" in after.stderr

    assert hai(platform, "users", "disable", "jane").returncode == 0
    assert json.loads(hai(platform, "users", "list", "--json").stdout)[1]["disabled"] is True


def test_call_models_and_usage(platform: Platform) -> None:
    platform.start_worker(TEST_MODELS + ":Lab")
    out = hai(platform, "call", "lab", "add", "--json", '{"a": 2, "b": 40}')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == 42
    streamed = hai(platform, "call", "lab", "count", "--json", '{"n": 3}')
    assert [json.loads(line)["i"] for line in streamed.stdout.splitlines()] == [0, 1, 2]
    bad = hai(platform, "call", "lab", "add", "--json", "{oops")
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    missing = hai(platform, "call", "ghost", "run")
    assert missing.returncode == 1 and "ghost" in missing.stderr

    listed = json.loads(hai(platform, "models", "list", "--json").stdout)
    assert [m["id"] for m in listed] == ["lab"] and "add" in listed[0]["methods"]
    up = hai(
        platform,
        "models",
        "add-upstream",
        "ext",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--api-key",
        "sk-secret",
        "--upstream-model",
        "their-name",
        "--private",
        "--group",
        "theory",
    )
    assert up.returncode == 0, up.stderr
    every = json.loads(hai(platform, "models", "list", "--all", "--json").stdout)
    ext = next(m for m in every if m["name"] == "ext")
    assert ext["has_upstream_key"] and ext["groups"] == ["theory"] and not ext["public"]
    assert "sk-secret" not in json.dumps(every)
    assert hai(platform, "models", "permit", "ext", "--public").returncode == 0
    bad_url = hai(platform, "models", "add-upstream", "x", "--base-url", "ftp://nowhere")
    assert bad_url.returncode == 1 and "invalid upstream URL" in bad_url.stderr
    assert hai(platform, "models", "remove", "ext").returncode == 0

    usage = hai(platform, "usage", "--json")
    assert usage.returncode == 0, usage.stderr
    rows = {(r["model"], r["method"]): r for r in json.loads(usage.stdout)}
    # The usage writer flushes every 0.5 s in tests; the calls above are long done.
    assert rows[("lab", "add")]["calls"] >= 1


def test_worker_without_token_says_where_it_looks(tmp_path: Path) -> None:
    env = {"HAI_HOME": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "hakutaku", "worker", TEST_MODELS + ":Lab"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "worker.token" in out.stderr and "HAI_WORKER_TOKEN" in out.stderr


def test_no_api_key_is_a_clear_error(tmp_path: Path) -> None:
    env = {"HAI_HOME": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "hakutaku", "models", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "HAI_API_KEY" in out.stderr


def test_compute_billing_and_usage_commands(platform: Platform, tmp_path: Path) -> None:
    """The admin commands print what they did, and refusals are one line with exit 1."""
    jane = platform.add_user_key("jane", groups=("lhcb",))
    month = datetime.now(UTC).strftime("%Y-%m")

    partitions = json.loads(hai(platform, "compute", "partitions", "--json").stdout)
    assert partitions and {"name", "qos", "max_time"} <= set(partitions[0])
    assert json.loads(hai(platform, "compute", "policy", "show").stdout)["qos"]
    resources = json.loads(hai(platform, "compute", "resources").stdout)
    assert resources["backend"] == "local"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'default_partition = "cpu"\n[partitions.cpu]\nqos = ["normal"]\ndefault_qos = "normal"\n'
        "[qos.normal]\npriority = 0\n"
    )
    applied = hai(platform, "compute", "policy", "apply", str(policy))
    assert applied.returncode == 0 and applied.stdout == "policy applied: 1 partitions, 1 QOS\n"
    denied = hai(platform, "compute", "policy", "apply", str(policy), key=jane)
    assert denied.returncode == 1 and "(403, permission_denied)" in denied.stderr
    (tmp_path / "bad.toml").write_text("[partitions\n")
    broken = hai(platform, "compute", "policy", "apply", str(tmp_path / "bad.toml"))
    assert broken.returncode == 1 and "(400, invalid_policy)" in broken.stderr

    price = hai(platform, "prices", "set", "gpu:a800", "2.5")
    assert price.returncode == 0, price.stderr
    assert price.stdout == f"gpu:a800: 2.5 CNY per hour from {month}\n"
    assert "gpu:a800" in hai(platform, "prices", "list", key=jane).stdout
    removed = hai(platform, "prices", "remove", "gpu:a800")
    assert removed.stdout == "removed the price of gpu:a800\n"
    history = json.loads(hai(platform, "prices", "list", "--history", "--json").stdout)
    assert [p["price"] for p in history if p["resource"] == "gpu:a800"][-1] is None
    prices_file = tmp_path / "prices.toml"
    prices_file.write_text('[[price]]\nresource = "cpu"\nprice = "0.05"\n')
    assert hai(platform, "prices", "apply", str(prices_file)).stdout == "set 1 prices\n"

    added = hai(platform, "contributions", "add", "lhcb", "gpu:a800", "100", "--since", "2025-01")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("contribution 1: lhcb gets 100") and "open-ended" in added.stdout
    assert "lhcb" in hai(platform, "contributions", "list", key=jane).stdout
    ended = hai(platform, "contributions", "end", "1")
    assert ended.stdout == f"contribution 1 ends after {month}\n"
    assert hai(platform, "contributions", "remove", "1").stdout == "removed contribution 1\n"
    gone = hai(platform, "contributions", "remove", "1")
    assert gone.returncode == 1 and "(404, not_found)" in gone.stderr

    collected = hai(platform, "usage", "collect")
    assert collected.returncode == 0 and collected.stdout.startswith("accounted 0 jobs")
    statement = hai(platform, "usage", "statement", key=jane)
    assert statement.returncode == 0 and f"Statement for {month}, user jane" in statement.stdout
    assert json.loads(hai(platform, "usage", "ledger", "--json", key=jane).stdout) == []
    bad_month = hai(platform, "usage", "statement", "--period", "soon")
    assert bad_month.returncode == 1 and "YYYY-MM" in bad_month.stderr

    assert hai(platform, "users", "enable", "jane").stdout == "enabled user jane\n"
    limited = hai(platform, "keys", "limit", "2", "30")
    assert limited.returncode == 0 and limited.stdout.endswith(": 30 calls per minute\n")


def test_users_passwd_sets_a_portal_password_or_prints_a_one_time_link(platform: Platform) -> None:
    assert hai(platform, "users", "add", "pia").returncode == 0
    env = dict(platform.env)
    done = subprocess.run(
        [sys.executable, "-m", "hakutaku", "users", "passwd", "pia", "--password-stdin"],
        env=env,
        input="a long enough secret\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "password set for pia" in done.stdout
    weak = subprocess.run(
        [sys.executable, "-m", "hakutaku", "users", "passwd", "pia", "--password-stdin"],
        env=env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    link = hai(platform, "users", "passwd", "pia", "--link", "--hours", "2")
    assert link.returncode == 0, link.stderr
    assert link.stdout.strip().startswith(f"{platform.url}/login/link/hai-link.")
    assert "one sign-in" in link.stderr
