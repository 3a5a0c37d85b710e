"""tools/fetch_istio_crds.py: blob-id pinning, checked against a loopback HTTP server and file:// URLs."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.istio_schema import crds_dir
from tools import fetch_istio_crds as fetch

SHARED = crds_dir()
SMALL = [p for p in fetch.PINS if p.name.startswith("crd-operator-")]


def _mirror(root: Path, pins: list[fetch.Pin], tamper: str | None = None) -> None:
    """Lay out ``<root>/<tag>/<path>`` like raw.githubusercontent.com/istio/istio."""
    for pin in pins:
        target = root / pin.tag / pin.path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (SHARED / pin.name).read_bytes()
        if pin.name == tamper:
            data = data.replace(b"IstioOperator", b"IstioOperat0r", 1)
        target.write_bytes(data)


@pytest.fixture
def http_base(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "mirror"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_git_blob_id_matches_git_hash_object(tmp_path: Path) -> None:
    assert fetch.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    sample = tmp_path / "f"
    sample.write_bytes(b"hello\n")
    if shutil.which("git"):
        out = subprocess.run(["git", "hash-object", str(sample)], capture_output=True, text=True)
        assert fetch.git_blob_id(b"hello\n") == out.stdout.strip()
    assert fetch.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_the_bundles_the_tests_use_have_their_pinned_blobs() -> None:
    for pin in fetch.PINS:
        assert fetch.verify_file(SHARED / pin.name, pin), pin.name


def test_pins_match_the_shared_readme() -> None:
    if not (SHARED / "README.md").exists():
        pytest.skip(f"no README.md in {SHARED}: it comes with ../shared, not with fetched bundles")
    readme = (SHARED / "README.md").read_text()
    for pin in fetch.PINS:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{pin.name}`"))
        assert f"`{pin.path}`" in row and f"`{pin.blob}`" in row and f"`{pin.tag}`" in row, row
    listed = set(re.findall(r"^\| `(crd-[^`]+)`", readme, re.M))
    assert listed == {p.name for p in fetch.PINS}


def test_fetches_over_http_and_checks_blobs(http_base: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_base
    _mirror(root, SMALL)
    dest = tmp_path / "dest"
    names = [p.name for p in SMALL]
    assert fetch.main(["--dest", str(dest), "--base-url", base, *names]) == 0
    for pin in SMALL:
        assert (dest / pin.name).read_bytes() == (SHARED / pin.name).read_bytes()
    # second run: nothing downloaded (the server content is gone, files are still accepted)
    shutil.rmtree(root / SMALL[0].tag)
    assert fetch.main(["--dest", str(dest), "--base-url", base, *names]) == 0
    assert fetch.main(["--verify", "--dest", str(dest), *names]) == 0


def test_refuses_a_tampered_file(
    http_base: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = http_base
    bad = SMALL[0]
    _mirror(root, SMALL, tamper=bad.name)
    dest = tmp_path / "dest"
    assert fetch.main(["--dest", str(dest), "--base-url", base, *[p.name for p in SMALL]]) == 1
    err = capsys.readouterr().err
    assert f"{bad.name}: {base}/{bad.tag}/{bad.path} has git blob" in err
    assert f"expected {bad.blob}: refusing" in err
    assert not (dest / bad.name).exists()
    assert not list(dest.glob(".*"))  # no temp file left behind
    assert (dest / SMALL[1].name).exists()  # the good one was still fetched


def test_replaces_a_tampered_local_copy(http_base: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_base
    pin = SMALL[0]
    _mirror(root, [pin])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / pin.name).write_bytes(b"tampered")
    assert fetch.main(["--verify", "--dest", str(dest), pin.name]) == 1
    assert fetch.main(["--dest", str(dest), "--base-url", base, pin.name]) == 0
    assert fetch.verify_file(dest / pin.name, pin)


def test_file_url_base_and_missing_file(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    pin = next(p for p in fetch.PINS if p.name == "crd-all-1.13.9.yaml")
    _mirror(root, [pin])
    dest = tmp_path / "dest"
    assert fetch.main(["--dest", str(dest), "--base-url", root.as_uri(), pin.name]) == 0
    assert fetch.verify_file(dest / pin.name, pin)
    other = next(p for p in fetch.PINS if p.name == "crd-all-1.14.6.yaml")
    assert fetch.main(["--dest", str(dest), "--base-url", root.as_uri(), other.name]) == 1


def test_unknown_names_and_schemes(tmp_path: Path) -> None:
    assert fetch.main(["--dest", str(tmp_path), "nope.yaml"]) == 2
    with pytest.raises(fetch.FetchError, match="unsupported URL scheme"):
        fetch.download("ftp://example.invalid/x", 1)


def test_runs_as_a_script(tmp_path: Path) -> None:
    """The Makefile runs it as ``python tools/fetch_istio_crds.py`` (stdlib only: ``-S``, no site-packages)."""
    script = Path(fetch.__file__)
    out = subprocess.run(
        [sys.executable, "-S", str(script), "--verify", "--dest", str(SHARED)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok") == len(fetch.PINS)
