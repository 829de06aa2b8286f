"""App specs: the shipped apps, an operator's file, and clear refusals of a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.apps.spec import AppSpecError, load_apps


def test_shipped_apps_and_an_operators_app(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(
        """
[apps.tensorboard]
title = "TensorBoard"
command = ["{python}", "-m", "tensorboard.main", "--port", "{port}", "--path_prefix", "{base_url}"]
ready_path = ""
mem = "2G"
"""
    )
    apps = load_apps(path)
    assert set(apps) == {"jupyter", "terminal", "training", "tensorboard"}
    command, env = apps["tensorboard"].render(
        {
            "python": "py",
            "host": "h",
            "port": "9",
            "base_url": "/apps/x/",
            "secret": "s",
            "workdir": "/w",
        }
    )
    assert command == ["py", "-m", "tensorboard.main", "--port", "9", "--path_prefix", "/apps/x/"]
    assert env == {}
    # Jupyter's secret goes in its environment, never on its command line
    jupyter_cmd, jupyter_env = apps["jupyter"].render(
        {
            "python": "py",
            "host": "h",
            "port": "9",
            "base_url": "/b/",
            "secret": "SEKRIT",
            "workdir": "/w",
        }
    )
    assert "SEKRIT" not in " ".join(jupyter_cmd) and jupyter_env["JUPYTER_TOKEN"] == "SEKRIT"
    assert apps["jupyter"].header("SEKRIT") == (b"authorization", b"token SEKRIT")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[apps.x]\ncomand = ['a']\n", "unknown field(s) comand"),
        ("[apps.x]\ncommand = 'a b'\n", "`command` must be a non-empty list"),
        ("[apps.x\n", "Cannot read the apps file"),
    ],
)
def test_a_bad_apps_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(text)
    with pytest.raises(AppSpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_apps(path)


def test_a_bad_placeholder_names_the_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text("[apps.x]\ncommand = ['{pyhton}']\n")
    with pytest.raises(AppSpecError, match=r"bad placeholder 'pyhton'.*\{python\}"):
        load_apps(path)["x"].render({"python": "p"})
