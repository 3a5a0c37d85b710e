"""tools/reference_data.py: where the tests find the pinned reference data, offline.

The network is never used: the fetcher's download is replaced, and the data sets under test are
small synthetic ones with real git blob ids.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import fetch_istio_crds, reference_data
from tools.fetch_istio_crds import FetchError, Pin, git_blob_id
from tools.reference_data import DataSet, Unavailable, resolve

ROOT = Path(__file__).resolve().parent.parent
CONTENT = {"a.yaml": b"kind: A\n", "b.yaml": b"kind: B\n"}


def _data_set(file: str | None = None) -> DataSet:
    return DataSet(
        name="sample",
        title="the sample files",
        env_var="ACPW_SAMPLE",
        shared_dir="../shared/sample",
        build_dir="build/sample",
        pins=tuple(Pin(n, "v1", f"dir/{n}", git_blob_id(c)) for n, c in CONTENT.items()),
        base_url="https://example.invalid/repo",
        fetch_hint="make fetch-sample",
        file=file,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository checkout with nothing beside it (what a user's fresh clone is)."""
    root = tmp_path / "acpw"
    root.mkdir()
    return root


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Serve CONTENT instead of the network; returns the URLs asked for."""
    asked: list[str] = []

    def download(url: str, timeout: float) -> bytes:
        asked.append(url)
        return CONTENT[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(fetch_istio_crds, "download", download)
    return asked


def _no_fetch(pin: Pin, dest: Path, base_url: str, timeout: float) -> str:
    raise AssertionError(f"{pin.name} fetched although it should not be")


def test_the_variable_wins(checkout: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (checkout.parent / "shared" / "sample").mkdir(parents=True)
    environ = {"ACPW_SAMPLE": str(mine)}
    assert resolve(_data_set(), checkout, environ, fetcher=_no_fetch) == ("env", mine)
    relative = {"ACPW_SAMPLE": "build/x"}
    (checkout / "build" / "x").mkdir(parents=True)
    assert resolve(_data_set(), checkout, relative, fetcher=_no_fetch) == (
        "env",
        checkout / "build" / "x",
    )


def test_a_variable_naming_nothing_is_one_clear_line(checkout: Path) -> None:
    with pytest.raises(Unavailable) as error:
        resolve(_data_set(), checkout, {"ACPW_SAMPLE": "/nowhere"}, fetcher=_no_fetch)
    assert str(error.value) == "ACPW_SAMPLE=/nowhere: no such file or directory"


def test_the_shared_copy_beside_the_repository_is_used_as_is(checkout: Path) -> None:
    shared = checkout.parent / "shared" / "sample"
    shared.mkdir(parents=True)
    (shared / "project.json").write_text("{}")
    assert resolve(_data_set(), checkout, {}, fetcher=_no_fetch) == ("shared", shared)
    assert resolve(_data_set("project.json"), checkout, {}, fetcher=_no_fetch) == (
        "shared",
        shared / "project.json",
    )


def test_a_fresh_clone_fetches_the_pinned_files_once(checkout: Path, downloads: list[str]) -> None:
    data = _data_set()
    assert resolve(data, checkout, {}) == ("fetched", checkout / "build" / "sample")
    assert downloads == [f"https://example.invalid/repo/v1/dir/{n}" for n in CONTENT]
    for name, content in CONTENT.items():
        assert (checkout / "build" / "sample" / name).read_bytes() == content
    # the next run finds them with the right blob ids and downloads nothing
    downloads.clear()
    assert resolve(data, checkout, {})[0] == "fetched"
    assert downloads == []
    file_set = _data_set("a.yaml")
    assert resolve(file_set, checkout, {}) == ("fetched", checkout / "build" / "sample" / "a.yaml")


def test_a_file_with_another_blob_id_is_refused(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = b"kind: Evil\n"
    monkeypatch.setattr(fetch_istio_crds, "download", lambda url, timeout: evil)
    with pytest.raises(Unavailable) as error:
        resolve(_data_set(), checkout, {})
    message = str(error.value)
    assert f"has git blob {git_blob_id(evil)}" in message
    assert f"expected {git_blob_id(CONTENT['a.yaml'])}: refusing to use it" in message
    assert not (checkout / "build" / "sample" / "a.yaml").exists()


def test_a_tampered_fetched_copy_is_fetched_again(checkout: Path, downloads: list[str]) -> None:
    build = checkout / "build" / "sample"
    build.mkdir(parents=True)
    (build / "a.yaml").write_bytes(b"tampered")
    (build / "b.yaml").write_bytes(CONTENT["b.yaml"])
    resolve(_data_set(), checkout, {})
    assert downloads == ["https://example.invalid/repo/v1/dir/a.yaml"]
    assert (build / "a.yaml").read_bytes() == CONTENT["a.yaml"]


def test_no_network_is_one_line_saying_what_to_fetch_or_set(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, timeout: float) -> bytes:
        raise FetchError(
            f"cannot fetch {url}: <urlopen error [Errno -2] Name or service not known>"
        )

    monkeypatch.setattr(fetch_istio_crds, "download", offline)
    with pytest.raises(Unavailable) as error:
        resolve(_data_set(), checkout, {})
    assert str(error.value) == (
        "cannot find or fetch the sample files (cannot fetch "
        "https://example.invalid/repo/v1/dir/a.yaml: <urlopen error [Errno -2] Name or service "
        "not known>): run `make fetch-sample` with network access, or set ACPW_SAMPLE to a "
        "directory holding them"
    )


def test_main_runs_the_command_with_the_paths_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    crds, schema = tmp_path / "crds", tmp_path / "project.json"
    crds.mkdir()
    schema.write_text("{}")
    monkeypatch.setenv("ACPW_ISTIO_CRDS", str(crds))
    monkeypatch.setenv("ACPW_PULUMI_SCHEMA", str(schema))
    ran: list[list[str]] = []
    assert reference_data.main(["--run", "pytest", "-q"], execvp=lambda f, a: ran.append(a)) == 0
    assert ran == [["pytest", "-q"]]


def test_main_without_data_or_network_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "acpw"
    fresh.mkdir()
    monkeypatch.setattr(reference_data, "ROOT", fresh)
    monkeypatch.delenv("ACPW_ISTIO_CRDS", raising=False)
    monkeypatch.delenv("ACPW_PULUMI_SCHEMA", raising=False)

    def offline(pin: Pin, dest: Path, base_url: str, timeout: float) -> str:
        raise FetchError(f"cannot fetch {base_url}/{pin.tag}/{pin.path}: no network")

    ran: list[list[str]] = []
    code = reference_data.main(
        ["--run", "pytest"], fetcher=offline, execvp=lambda f, a: ran.append(a)
    )
    assert (code, ran) == (1, [])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot find or fetch the Istio CRD")
    assert "run `make fetch-istio-crds` with network access, or set ACPW_ISTIO_CRDS" in err
    assert "run `make fetch-pulumi-schema` with network access, or set ACPW_PULUMI_SCHEMA" in err


def test_the_pulumi_schema_pin_is_the_documented_one() -> None:
    pin = reference_data.PULUMI_SCHEMA_PIN
    assert (pin.tag, pin.blob) == (
        "1b5949891b3cefcb9974752b24a5ecef0acc86c8",
        "71846eef618fe494532a833b344ec901053843f8",
    )
    assert reference_data.PULUMI_SCHEMA.target(Path("d")) == Path("d/project.json")
    assert fetch_istio_crds.url_for(pin, reference_data.PULUMI_SCHEMA.base_url) == (
        "https://raw.githubusercontent.com/pulumi/pulumi/"
        "1b5949891b3cefcb9974752b24a5ecef0acc86c8/sdk/go/common/workspace/project.json"
    )
    readme = ROOT.parent / "shared" / "pulumi-schemas" / "README.md"
    if readme.exists():
        text = readme.read_text()
        assert pin.tag in text and pin.blob in text and pin.path in text


def test_make_test_resolves_the_data_before_pytest() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^pytest:.*\n\t(.+)$", makefile, re.M)
    assert recipe and "-m tools.reference_data --run $(PY) -m pytest" in recipe.group(1)


def test_the_fetch_command_does_not_tell_you_to_run_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reference_data, "ROOT", tmp_path)

    def offline(pin: Pin, dest: Path, base_url: str, timeout: float) -> str:
        raise FetchError(f"cannot fetch {base_url}/{pin.tag}/{pin.path}: no network")

    assert reference_data.main(["--fetch", "pulumi-schema"], fetcher=offline) == 1
    err = capsys.readouterr().err
    assert "make fetch-pulumi-schema" not in err
    assert "it needs network access to https://raw.githubusercontent.com/pulumi/pulumi" in err
    assert "or set ACPW_PULUMI_SCHEMA to a copy of project.json" in err
