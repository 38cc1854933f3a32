"""The optional parts of tokenplane, and the error that names the one a feature needs.

`pip install tokenplane` gives tpctl and the node agent's core. The heavy parts
come as extras (pyproject.toml): a feature that needs one checks for it with
`require` before it starts (no import, so no cost), and says which to install.
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("ray", "aetcd", "numpy", "grpc_health", "grpc_reflection"),
    "agent-k8s": ("kubernetes",),
    "solar": ("pvlib", "pandas", "numpy"),
    "report": ("matplotlib",),
}
"""Each extra, and the modules it brings that tokenplane imports."""


class MissingExtra(ImportError):
    """A feature was asked for whose extra is not installed."""

    def __init__(self, extra: str, feature: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the [{extra}] extra ({module} is not installed): "
            f"pip install 'tokenplane[{extra}]'",
            name=module,
        )
        self.extra = extra


def missing(extra: str) -> str | None:
    """The first module of `extra` that is not installed, or None."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require(extra: str, feature: str) -> None:
    """Raises MissingExtra, naming `extra`, unless every module it brings is installed."""
    module = missing(extra)
    if module is not None:
        raise MissingExtra(extra, feature, module)
