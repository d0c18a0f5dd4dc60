"""网格化治理地图 — the GIS library.

Layers of a party-led grid-governance territory (town → community/village → grid → building,
people and their assignments, care points, parking, tickets), their validation, storage in one
GeoPackage, coordinate handling (incl. GCJ-02/BD-09) and analyses.

The public API is re-exported here; modules whose name starts with ``_`` are private.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "EditConflict",
    "LayerSet",
    "LayerValidationError",
    "Problem",
    "RegisterError",
    "Settings",
    "StoreError",
    "__version__",
    "accept_suggestions",
    "add_person",
    "assign",
    "coverage",
    "edit_person",
    "generate_demo",
    "history",
    "leave",
    "open_store",
    "partition_grids",
    "people_left",
    "suggestions",
    "unassign",
    "validate",
]

#: The register's names (``layers.register``): the responsibility chain edited row by row.
_REGISTER = {"EditConflict", "RegisterError", "accept_suggestions", "add_person", "assign",
             "edit_person", "history", "leave", "people_left", "suggestions", "unassign"}


def __getattr__(name: str):  # lazy re-exports keep `import layers` light for the CLI
    if name in {"LayerSet"}:
        from .layerset import LayerSet

        return LayerSet
    if name in {"LayerValidationError", "StoreError"}:
        from . import errors

        return getattr(errors, name)
    if name == "Problem":
        from .validate import Problem

        return Problem
    if name == "Settings":
        from .settings import Settings

        return Settings
    if name == "validate":
        from .validate import validate

        return validate
    if name == "open_store":
        from .store import open_store

        return open_store
    if name == "coverage":
        from .coverage import coverage

        return coverage
    if name == "generate_demo":
        from .demo import generate_demo

        return generate_demo
    if name in _REGISTER:
        from . import register

        return getattr(register, name)
    if name == "partition_grids":
        from .partition import partition_grids

        return partition_grids
    raise AttributeError(f"module 'layers' has no attribute {name!r}")
