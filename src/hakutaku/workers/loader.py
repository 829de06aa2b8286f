"""Find and build the object a worker hosts, from `path/to/file.py:Class` or `pkg.module:Class`.

Errors are `LoadError`s whose message says what was wrong (no such file, no such attribute,
the module failed to import, the class needs arguments) so `hai worker` can print just that.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hakutaku.names import model_name_problem
from hakutaku.workers.remote import REMOTE_ATTR

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class LoadError(Exception):
    """The target could not be found, imported or built; the message says why."""


def load_target(spec: str) -> type | object:
    """The class (or object) named by `spec`.

    `spec` is `MODULE:ATTR` where MODULE is a file path (anything ending in `.py` or holding a
    path separator) or a dotted module name, and ATTR may be dotted (`Outer.Inner`). A file
    alone (`model.py`) names the one class in it that has `@remote` methods.
    """
    spec = spec.strip()
    where, sep, attr = spec.rpartition(":")
    if not sep:
        where, attr = spec, ""
    if not where:
        raise LoadError(f"{spec!r}: expected path/to/file.py:Class or package.module:Class")
    if _is_path(where):
        module = _import_file(where)
    elif attr:
        module = _import_module(where)
    else:
        raise LoadError(f"{spec!r}: expected path/to/file.py:Class or package.module:Class")
    return _attribute(module, attr, where) if attr else _only_remote_class(module, where)


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _import_file(where: str) -> ModuleType:
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise LoadError(f"{where}: no such file")
    # The file's directory goes first on sys.path so that its sibling modules import.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = _module_name_for(path)
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{where}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses, pickle and typing look the module up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        sys.modules.pop(name, None)
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        raise LoadError(f"{where}: importing it failed: {type(e).__name__}: {e}") from e
    return module


def _module_name_for(path: Path) -> str:
    # The file's stem, as `python file.py` siblings would import it, unless that name is
    # taken by another module (e.g. a file called json.py); then a private unique name.
    stem = path.stem
    taken = sys.modules.get(stem)
    if stem.isidentifier() and (taken is None or getattr(taken, "__file__", None) == str(path)):
        return stem
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    safe = re.sub(r"\W", "_", stem)
    return f"_hai_target_{safe}_{digest}"


def _import_module(name: str) -> ModuleType:
    # Like `python -m`: modules in the working directory are importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise LoadError(f"{name}: no module named {e.name!r}") from None
        raise LoadError(f"{name}: importing it failed: {type(e).__name__}: {e}") from e
    except Exception as e:
        raise LoadError(f"{name}: importing it failed: {type(e).__name__}: {e}") from e


def _attribute(module: ModuleType, attr: str, where: str) -> Any:
    obj: Any = module
    for part in attr.split("."):
        if not part.isidentifier():
            raise LoadError(f"{where}:{attr}: {part!r} is not a Python name")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            hint = _candidates(module)
            also = f" (it defines: {', '.join(hint)})" if hint else ""
            raise LoadError(f"{where} has no attribute {attr!r}{also}") from None
    return obj


def _defined_classes(module: ModuleType) -> list[type]:
    return [
        v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__
    ]


def _has_remote(cls: type) -> bool:
    return any(getattr(getattr(cls, a, None), REMOTE_ATTR, None) for a in dir(cls))


def _candidates(module: ModuleType) -> list[str]:
    classes = _defined_classes(module)
    remote = [c.__name__ for c in classes if _has_remote(c)]
    return remote or [c.__name__ for c in classes if not c.__name__.startswith("_")]


def _only_remote_class(module: ModuleType, where: str) -> type:
    found = [c for c in _defined_classes(module) if _has_remote(c)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise LoadError(f"{where} defines no class with @remote methods; name one: {where}:Class")
    names = ", ".join(c.__name__ for c in found)
    raise LoadError(
        f"{where} defines several classes with @remote methods ({names}); name one: {where}:Class"
    )


def _construct(target: type | object) -> Any:
    if not isinstance(target, type):
        return target  # already an object (a module-level instance)
    try:
        inspect.signature(target).bind()
    except TypeError:
        params = [
            p.name
            for p in inspect.signature(target).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        raise LoadError(
            f"{target.__qualname__} cannot be created without arguments (it needs: "
            f"{', '.join(params)}); give its parameters defaults or read them in setup()"
        ) from None
    except ValueError:
        pass  # no signature to check (some builtins); just try
    try:
        return target()
    except Exception as e:
        raise LoadError(f"creating {target.__qualname__}() failed: {type(e).__name__}: {e}") from e


def _setup_failed(obj: object, e: Exception) -> LoadError:
    return LoadError(f"{type(obj).__qualname__}.setup() failed: {type(e).__name__}: {e}")


def instantiate(target: type | object) -> object:
    """Build the hosted object: call a class with no arguments, then its `setup()` if any.

    An async `setup()` is run to completion with `asyncio.run`; code already inside an event
    loop should use `ainstantiate`, so that what setup creates belongs to that loop.
    """
    obj = _construct(target)
    setup = getattr(obj, "setup", None)
    if callable(setup):
        try:
            result = setup()
            if inspect.isawaitable(result):
                import asyncio

                asyncio.run(_await(result))
        except Exception as e:
            raise _setup_failed(obj, e) from e
    return obj


async def ainstantiate(target: type | object) -> object:
    """`instantiate` inside a running event loop: an async `setup()` is awaited here."""
    obj = _construct(target)
    setup = getattr(obj, "setup", None)
    if callable(setup):
        try:
            result = setup()
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            raise _setup_failed(obj, e) from e
    return obj


async def _await(awaitable: Any) -> Any:
    return await awaitable


def default_name(cls: type) -> str:
    """`JetTagger` → `jet-tagger`, `ParticleNetV2` → `particle-net-v2`."""
    return _CAMEL.sub("-", cls.__name__).replace("_", "-").strip("-").lower()


def validate_name(name: str) -> str:
    problem = model_name_problem(name)
    if problem is not None:
        raise LoadError(problem)
    return name


def model_name(obj: object, override: str | None = None) -> str:
    """The name callers use: `override`, else the object's `name` attribute, else its class."""
    name = override or getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        name = default_name(type(obj))
    return validate_name(name)
