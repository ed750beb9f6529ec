"""The package surface: `__all__` everywhere, re-exports from `mmapi`, and no Prefect import."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import mmapi

# Submodules whose names are deliberately not re-exported by `mmapi/__init__.py`: constants
# (`settings`, `schemas`) and the pipeline's own machinery (`ledger`, `chunks`, `sql`,
# `child_server`, `input_files`), read as
# `mmapi.ledger.Ledger` and so on; the top level is the client-side API.
NOT_REEXPORTED = {
    "mmapi.settings",
    "mmapi.schemas",
    "mmapi.sql",
    "mmapi.ledger",
    "mmapi.chunks",
    "mmapi.rate_share",
    "mmapi.child_server",
    "mmapi.input_files",
    "mmapi.storage",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def all_module_names() -> list[str]:
    """`mmapi` and every module below it, subpackages (such as `mmapi.sandbox`) included."""
    found = pkgutil.walk_packages(mmapi.__path__, prefix="mmapi.")
    return ["mmapi", *sorted(info.name for info in found)]


def direct_submodules() -> list[ModuleType]:
    return [
        importlib.import_module(f"mmapi.{info.name}")
        for info in pkgutil.iter_modules(mmapi.__path__)
        if not info.ispkg
    ]


def test_package_has_the_expected_submodules():
    names = {module.__name__ for module in direct_submodules()}

    assert {"mmapi.errors", "mmapi.models", "mmapi.templates", "mmapi.throttle"} <= names
    assert {"mmapi.webhooks", "mmapi.settings"} <= names


def test_package_all_equals_submodule_exports():
    expected = {
        name
        for module in direct_submodules()
        if module.__name__ not in NOT_REEXPORTED
        for name in module.__all__
    }

    assert set(mmapi.__all__) == expected
    assert len(mmapi.__all__) == len(set(mmapi.__all__)), "two submodules export one name"


def test_package_all_names_importable_from_mmapi():
    sources = {
        name: module
        for module in direct_submodules()
        if module.__name__ not in NOT_REEXPORTED
        for name in module.__all__
    }

    for name in mmapi.__all__:
        assert getattr(mmapi, name) is getattr(sources[name], name), name


def test_package_all_names_star_importable():
    namespace: dict[str, object] = {}
    exec("from mmapi import *", namespace)  # noqa: S102

    assert set(mmapi.__all__) <= set(namespace)


@pytest.mark.parametrize("module_name", all_module_names())
def test_package_module_has_all(module_name):
    module = importlib.import_module(module_name)

    assert isinstance(getattr(module, "__all__", None), list | tuple), f"{module_name}: no __all__"
    assert all(isinstance(name, str) for name in module.__all__)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names undefined {missing}"
    assert not [name for name in module.__all__ if name.startswith("_")]


def test_package_import_does_not_load_prefect():
    modules = all_module_names()
    script = textwrap.dedent(
        f"""
        import importlib, importlib.util, json, sys
        for name in {modules!r}:
            importlib.import_module(name)
        print(json.dumps({{
            "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "prefect"),
            "prefect_installed": importlib.util.find_spec("prefect") is not None,
            "imported": [name for name in {modules!r} if name in sys.modules],
        }}))
        """
    )

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported"] == modules
    assert report["prefect_installed"] is True  # else this test could not fail
    assert report["loaded"] == []
