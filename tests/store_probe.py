"""Test helper: how many trials a result store holds, read from outside the sweep that writes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def stored_trials(db: Path) -> int:
    """Trials committed to `db` so far, read-only; 0 while the file is absent or mid-creation."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not yet renamed into place or mid-creation
