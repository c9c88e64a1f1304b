"""The local Amazon ML service under the provider's name: ``amazon_ml_emulator``, or a hint to install it."""

from __future__ import annotations

try:
    from amazon_ml_emulator import Emulator, EmulatorClient, EmulatorClientError, EmulatorConfig
except ModuleNotFoundError as error:
    if error.name != "amazon_ml_emulator":
        raise
    # One line a user can act on, instead of a traceback ending in a module name they never typed.
    raise ImportError(
        "the Amazon ML emulator is its own distribution: pip install 'airflow-ml-provider[emulator]'"
    ) from None

__all__ = ["Emulator", "EmulatorClient", "EmulatorClientError", "EmulatorConfig"]
