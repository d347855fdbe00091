"""Write docs/hw_config_keys.md from the hardware schema (tests/test_hw_keys_doc.py checks it is current).

Usage: python scripts/hw_config_keys.py
"""

from __future__ import annotations

from pathlib import Path

from simulator.config.hw_keys_doc import hw_keys_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "hw_config_keys.md"


def main() -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(hw_keys_markdown(), encoding="utf-8")
    print(DOC)


if __name__ == "__main__":
    main()
