"""Entry point of the `acpw` component provider plugin (run by the Pulumi CLI as `python provider <engine>`)."""

import sys
from pathlib import Path

# The plugin is this directory of the repository: the `acpw` package is its parent's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acpw.component import serve

if __name__ == "__main__":
    serve()
