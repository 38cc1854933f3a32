"""Reading `-f FILE|DIR|-` as kubectl does: files, directories (optionally recursive), stdin.

Every document of every file is validated before anything is sent, so that a
typo in the third file does not leave the first two applied; the error names
the file, the document and the field.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from controlplane.cli.errors import CliError
from controlplane.resources import ManifestError, load_manifests
from controlplane.resources.codec import Resource

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Manifest:
    source: str  # the file it came from, or "-" for stdin
    resource: Resource


def _files(name: str, recursive: bool) -> list[Path]:
    path = Path(name)
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        return sorted(p for p in found if p.is_file() and p.suffix in SUFFIXES)
    if not path.exists():
        raise CliError(f"{name}: no such file or directory")
    return [path]


def read(filenames: tuple[str, ...], *, recursive: bool = False) -> list[Manifest]:
    texts: list[tuple[str, str]] = []
    for name in filenames:
        if name == "-":
            texts.append(("-", sys.stdin.read()))
            continue
        for path in _files(name, recursive):
            try:
                texts.append((str(path), path.read_text()))
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"cannot read {path}: {e}") from None
    manifests, problems = [], []
    for source, text in texts:
        try:
            manifests += [Manifest(source, r) for r in load_manifests(text, source)]
        except ManifestError as e:
            problems += e.problems
    if problems:
        raise CliError(
            "invalid manifest:\n" + "\n".join(f"  {where}: {why}" for where, why in problems)
        )
    if not manifests:
        raise CliError(f"no objects found in {', '.join(filenames)}")
    return manifests
