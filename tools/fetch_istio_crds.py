"""Fetch the Istio CRD bundles the conformance tests use, checking each file's pinned git blob id.

    python tools/fetch_istio_crds.py --dest build/istio-crds
    ACPW_ISTIO_CRDS=build/istio-crds make test

Each file is downloaded from the public Istio repository by tag
(``<base-url>/<tag>/<path>``, default base ``https://raw.githubusercontent.com/istio/istio``)
and kept only if ``git hash-object`` of its bytes (sha1 of ``b"blob <size>\\0" + content``)
equals the blob id pinned in ``acpw/istio_versions.py`` (``CRD_FILES``, the same ids as
``../shared/istio-crds/README.md``). A mismatch
is refused: nothing is written for that file and the exit status is 1. Files already present
with the right blob id are not downloaded again. ``--base-url`` also accepts ``file://`` URLs
(a local mirror laid out as ``<tag>/<path>``), and ``--verify`` only checks a directory.

Standard library only, so it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as `python tools/fetch_istio_crds.py`: make acpw importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acpw.istio_versions import CRD_FILES, CrdFile  # stdlib only

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/istio/istio"


Pin = CrdFile
"""One reference file: where it comes from and the git blob id it must have."""

PINS: tuple[Pin, ...] = CRD_FILES
"""The pinned files, from acpw/istio_versions.py (every Istio-version fact lives there)."""


class FetchError(Exception):
    """A file could not be fetched or did not have its pinned blob id."""


def git_blob_id(content: bytes) -> str:
    """What ``git hash-object`` prints for a file with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def url_for(pin: Pin, base_url: str = DEFAULT_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{pin.tag}/{pin.path}"


def download(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://", "file://")):
        raise FetchError(f"unsupported URL scheme: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"cannot fetch {url}: {exc}") from exc


def verify_file(path: Path, pin: Pin) -> bool:
    """True when ``path`` exists and has the pinned blob id."""
    return path.is_file() and git_blob_id(path.read_bytes()) == pin.blob


def fetch_one(pin: Pin, dest: Path, base_url: str, timeout: float) -> str:
    """Fetch one pinned file into ``dest``; returns a status line, raises :class:`FetchError`."""
    target = dest / pin.name
    if verify_file(target, pin):
        return f"ok      {pin.name} (already present, blob {pin.blob})"
    url = url_for(pin, base_url)
    content = download(url, timeout)
    actual = git_blob_id(content)
    if actual != pin.blob:
        raise FetchError(
            f"{pin.name}: {url} has git blob {actual}, expected {pin.blob}: refusing to use it"
        )
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{pin.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return f"fetched {pin.name} from {url} (blob {actual})"


def select(names: list[str] | None) -> list[Pin]:
    if not names:
        return list(PINS)
    known = {p.name: p for p in PINS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FetchError(f"unknown file(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path("build/istio-crds"))
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--verify", action="store_true", help="only check the files in --dest")
    parser.add_argument("files", nargs="*", help="file names to fetch (default: all)")
    args = parser.parse_args(argv)
    try:
        pins = select(args.files)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for pin in pins:
        if args.verify:
            ok = verify_file(args.dest / pin.name, pin)
            print(f"{'ok     ' if ok else 'BAD    '} {pin.name}")
            failed += not ok
            continue
        try:
            print(fetch_one(pin, args.dest, args.base_url, args.timeout))
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
