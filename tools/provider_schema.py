"""Write or check the committed schema snapshot of the component provider (provider/schema.json).

python -m tools.provider_schema          # exit 1 when the snapshot is stale
python -m tools.provider_schema --write  # rewrite it after a deliberate interface change
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from acpw.component import inferred_schema

SNAPSHOT = Path(__file__).resolve().parent.parent / "provider" / "schema.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite provider/schema.json")
    args = parser.parse_args(argv)
    text = render(inferred_schema())
    if args.write:
        SNAPSHOT.write_text(text, encoding="utf-8")
        return 0
    if not SNAPSHOT.is_file() or SNAPSHOT.read_text(encoding="utf-8") != text:
        print(f"{SNAPSHOT} is stale: run python -m tools.provider_schema --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
