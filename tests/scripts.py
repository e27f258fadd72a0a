"""Loading the project's scripts (run.py, scripts/*.py) as modules in tests."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def loaded_script(relative: str, name: str) -> Iterator[ModuleType]:
    """The script at ``relative`` (from the repository root) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up while the class statements run.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]
