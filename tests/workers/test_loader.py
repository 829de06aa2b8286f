"""hakutaku.workers.loader: finding, building and naming the hosted object."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from hakutaku.workers import RemoteModel, remote
from hakutaku.workers.loader import (
    LoadError,
    ainstantiate,
    default_name,
    instantiate,
    load_target,
    model_name,
)


def test_file_target_with_sibling_import(model_file: Path) -> None:
    cls = load_target(f"{model_file}:Toy")
    assert isinstance(cls, type) and cls.__name__ == "Toy"
    obj = instantiate(cls)
    assert obj.ready  # setup() ran
    assert obj.scale(2) == 6  # toy_helper.SCALE came from the sibling module


def test_relative_file_path(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(model_file.parent.parent)
    assert load_target(f"models/{model_file.name}:Toy").__name__ == "Toy"


def test_file_alone_picks_its_only_remote_class(model_file: Path) -> None:
    assert load_target(str(model_file)).__name__ == "Toy"


def test_file_alone_with_several_classes_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "two.py"
    path.write_text(
        textwrap.dedent(
            """
            from hakutaku.workers import remote

            class A:
                @remote
                def f(self): ...

            class B:
                @remote
                def g(self): ...
            """
        )
    )
    with pytest.raises(LoadError, match=r"several classes .*A, B"):
        load_target(str(path))


def test_module_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "hai_test_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tagger.py").write_text(
        textwrap.dedent(
            """
            from hakutaku.workers import RemoteModel, remote

            class Outer:
                class JetTagger(RemoteModel):
                    @remote
                    def tag(self, jets):
                        return len(jets)

            tagger = Outer.JetTagger()
            """
        )
    )
    monkeypatch.chdir(tmp_path)  # modules in the working directory import, like `python -m`
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        cls = load_target("hai_test_pkg.tagger:Outer.JetTagger")
        assert cls.__name__ == "JetTagger"
        instance = load_target("hai_test_pkg.tagger:tagger")
        assert instantiate(instance) is instance  # an object is hosted as it is
    finally:
        for name in [m for m in sys.modules if m.startswith("hai_test_pkg")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no/such/file.py:Model", "no/such/file.py: no such file"),
        ("hai_no_such_module_xyz:Model", "no module named 'hai_no_such_module_xyz'"),
        (":Model", "expected path/to/file.py:Class"),
        ("json", "expected path/to/file.py:Class"),
        ("json:NoSuchThing", "json has no attribute 'NoSuchThing'"),
    ],
)
def test_load_errors(spec: str, match: str) -> None:
    with pytest.raises(LoadError, match=match):
        load_target(spec)


def test_missing_attribute_lists_candidates(model_file: Path) -> None:
    with pytest.raises(LoadError, match=r"has no attribute 'Tpy' \(it defines: Toy\)"):
        load_target(f"{model_file}:Tpy")


def test_import_failure_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import hai_not_installed_anywhere\n")
    with pytest.raises(
        LoadError, match=r"broken\.py: importing it failed: ModuleNotFoundError"
    ) as e:
        load_target(f"{path}:X")
    assert isinstance(e.value.__cause__, ModuleNotFoundError)  # the CLI prints its traceback
    path.write_text("raise RuntimeError('no weights')\n")
    with pytest.raises(LoadError, match="RuntimeError: no weights"):
        load_target(f"{path}:X")


def test_a_file_named_like_a_stdlib_module_does_not_clobber_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loader puts the file's folder on sys.path; keep it off this test session's path.
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "json.py"
    path.write_text("class Model:\n    pass\n")
    import json

    assert load_target(f"{path}:Model").__name__ == "Model"
    assert sys.modules["json"] is json


class NeedsArgs:
    def __init__(self, weights: str) -> None:
        self.weights = weights


class FailsInSetup(RemoteModel):
    def setup(self) -> None:
        raise OSError("weights.pt not found")


class AsyncSetup(RemoteModel):
    ready = False

    async def setup(self) -> None:
        self.ready = True


def test_instantiate_errors() -> None:
    with pytest.raises(LoadError, match=r"NeedsArgs cannot be created without arguments.*weights"):
        instantiate(NeedsArgs)
    with pytest.raises(LoadError, match=r"setup\(\) failed: OSError: weights.pt not found"):
        instantiate(FailsInSetup)


def test_async_setup_runs() -> None:
    assert instantiate(AsyncSetup).ready


async def _ainstantiate() -> object:
    return await ainstantiate(AsyncSetup)


def test_ainstantiate_awaits_setup_in_the_running_loop() -> None:
    import asyncio

    assert asyncio.run(_ainstantiate()).ready


class JetTagger(RemoteModel):
    @remote
    def tag(self) -> None: ...


class ParticleNetV2:
    pass


class Named(RemoteModel):
    name = "particlenet-jetclass"


def test_model_names() -> None:
    assert model_name(JetTagger()) == "jet-tagger"
    assert model_name(ParticleNetV2()) == "particle-net-v2"
    assert default_name(type("HTTPServer", (), {})) == "http-server"
    assert default_name(type("my_model", (), {})) == "my-model"
    assert model_name(Named()) == "particlenet-jetclass"
    assert model_name(Named(), "override:v1") == "override:v1"


@pytest.mark.parametrize(
    "bad", ["-leading-dash", "has space", "/slash", "slash/", "a//b", "x" * 129, "é"]
)
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(LoadError, match="invalid model name"):
        model_name(JetTagger(), bad)


def test_namespaced_names_as_the_field_writes_them() -> None:
    assert model_name(JetTagger(), "openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    assert model_name(JetTagger(), "Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"


def test_longest_valid_name() -> None:
    assert model_name(JetTagger(), "a" * 128) == "a" * 128
