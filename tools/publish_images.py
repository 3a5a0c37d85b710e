"""``python -m tools.publish_images``: the same as ``python -m acpw.oci.publish`` (docs/images.md).

The CLI lives in the package so that every installation of ``acpw`` has it; this name is kept
for a checkout (``make publish-images``).
"""

from __future__ import annotations

import sys

from acpw.oci.publish import main

if __name__ == "__main__":
    sys.exit(main())
