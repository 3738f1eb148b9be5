"""Print the settings table of docs/configuration.md from core.config, so docs and code agree.

Usage: .venv/bin/python scripts/config_table.py (then paste its output between the markers).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic_core import PydanticUndefined

from core.config import ROOT, Settings


def default_text(field) -> str:  # type: ignore[no-untyped-def]
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    text = str(value).replace(str(ROOT), ".")
    return f"`{text}`" if text != "" else "(empty)"


def main() -> None:
    print("| environment variable | `pulseboard.toml` key | default | meaning |")
    print("|---|---|---|---|")
    for name, field in Settings.model_fields.items():
        print(f"| `PULSEBOARD_{name.upper()}` | `{name}` | {default_text(field)} | {field.description or ''} |")


if __name__ == "__main__":
    main()
