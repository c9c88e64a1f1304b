"""A local Amazon Machine Learning service speaking the real wire protocol, with moto's S3 beside it.

``Emulator`` runs it in-process; ``EmulatorClient`` drives one in another process through its admin routes
(listed in :mod:`amazon_ml_emulator.server`); ``python -m amazon_ml_emulator`` runs one.
The names load their modules on first use: driving an emulator from another process needs neither
scikit-learn nor moto.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amazon_ml_emulator.client import EmulatorClient, EmulatorClientError
    from amazon_ml_emulator.controls import EmulatorConfig
    from amazon_ml_emulator.server import Emulator

_MODULES = {
    "Emulator": "server",
    "EmulatorClient": "client",
    "EmulatorClientError": "client",
    "EmulatorConfig": "controls",
}
__all__ = ["Emulator", "EmulatorClient", "EmulatorClientError", "EmulatorConfig"]


if not TYPE_CHECKING:  # type checkers see the imports above, and so catch a misspelt name

    def __getattr__(name: str) -> Any:
        if name not in _MODULES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
