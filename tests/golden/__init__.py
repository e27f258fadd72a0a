"""Golden files: generated source kept byte for byte (``<name>.py.txt``).

``DJUST_REGENERATE_GOLDEN=1`` rewrites them from the current code; review
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def assert_matches_golden(name: str, source: str) -> None:
    """``source`` is exactly the golden file ``name`` (rewritten first when asked)."""
    path = FOLDER / f"{name}.py.txt"
    if os.environ.get("DJUST_REGENERATE_GOLDEN"):
        path.write_text(source)
    assert path.exists(), f"missing golden file {path.name}: set DJUST_REGENERATE_GOLDEN=1"
    assert source == path.read_text()
