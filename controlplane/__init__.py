"""tokenplane's control plane: API servers, inventory, scheduler, reconciler and store."""

__version__ = "0.1.0"
