"""A feature whose extra is not installed says which extra to install, and starts nothing."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest
from click.testing import CliRunner

from controlplane import extras
from controlplane.server.main import main as server_main


def hiding(*modules: str) -> Callable[[str], ModuleSpec | None]:
    """`find_spec` as in an environment without `modules`."""
    real = importlib.util.find_spec

    def find_spec(name: str) -> ModuleSpec | None:
        return None if name in modules else real(name)

    return find_spec


def test_every_extra_is_installed_for_the_tests() -> None:
    assert {extra: extras.missing(extra) for extra in extras.EXTRAS} == dict.fromkeys(extras.EXTRAS)


def test_the_server_without_its_extra_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(extras.importlib.util, "find_spec", hiding("ray"))
    result = CliRunner().invoke(server_main, ["--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "tokenplane-server needs the [server] extra (ray is not installed)" in result.output
    assert "pip install 'tokenplane[server]'" in result.output


def test_require_names_the_extra_and_the_feature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras.importlib.util, "find_spec", hiding("pvlib"))
    with pytest.raises(extras.MissingExtra) as missing:
        extras.require("solar", "a modelled solar array")
    assert missing.value.extra == "solar"
    assert str(missing.value).startswith("a modelled solar array needs the [solar] extra")
    extras.require("report", "the plot")  # installed: no error
