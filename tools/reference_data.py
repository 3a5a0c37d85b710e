"""Find, or fetch, the pinned reference data the tests check against.

    python -m tools.reference_data                      # print VAR=path for each data set
    python -m tools.reference_data --run python -m pytest
    python -m tools.reference_data --fetch pulumi-schema

The data sets (unmodified upstream files, pinned by git blob id):

* the Istio CRD bundles (``ACPW_ISTIO_CRDS``, a directory; see ``tools/fetch_istio_crds.py``);
* the Pulumi project schema (``ACPW_PULUMI_SCHEMA``, the ``project.json`` file):
  ``sdk/go/common/workspace/project.json`` of pulumi/pulumi at commit
  1b5949891b3cefcb9974752b24a5ecef0acc86c8, git blob 71846eef618fe494532a833b344ec901053843f8
  (the copy described in ``../shared/pulumi-schemas/README.md``).

For each, in this order:

1. its variable, when set, is used as is (it must exist);
2. ``../shared/<dir>`` beside the repository (CI and the team's checkouts) is used as is;
3. otherwise the pinned files are fetched into ``build/`` and each file's git blob id is checked
   (files already there with the right id are not fetched again).

``--run`` then runs the command with every variable set. When a fetch is impossible, one line
says what to fetch or which variable to set, and the exit status is 1.

Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools import fetch_istio_crds
from tools.fetch_istio_crds import FetchError, Pin

ROOT = Path(__file__).resolve().parent.parent

Fetcher = Callable[[Pin, Path, str, float], str]
"""``fetch_one(pin, dest, base_url, timeout)``: fetch and blob-check one file; raises FetchError."""


class Unavailable(Exception):
    """A data set is neither configured nor beside the repository, and cannot be fetched."""


@dataclass(frozen=True)
class DataSet:
    """One set of pinned reference files and where the tests look for it."""

    name: str
    title: str
    env_var: str
    shared_dir: str
    """Relative to the repository root."""
    build_dir: str
    """Relative to the repository root: where fetched files go."""
    pins: tuple[Pin, ...]
    base_url: str
    fetch_hint: str
    file: str | None = None
    """When set, the variable names this file of the directory rather than the directory."""

    def target(self, directory: Path) -> Path:
        return directory / self.file if self.file else directory


PULUMI_SCHEMA_PIN = Pin(
    "project.json",
    "1b5949891b3cefcb9974752b24a5ecef0acc86c8",
    "sdk/go/common/workspace/project.json",
    "71846eef618fe494532a833b344ec901053843f8",
)

ISTIO_CRDS = DataSet(
    name="istio-crds",
    title="the Istio CRD bundles",
    env_var="ACPW_ISTIO_CRDS",
    shared_dir="../shared/istio-crds",
    build_dir="build/istio-crds",
    pins=fetch_istio_crds.PINS,
    base_url=fetch_istio_crds.DEFAULT_BASE_URL,
    fetch_hint="make fetch-istio-crds",
)
PULUMI_SCHEMA = DataSet(
    name="pulumi-schema",
    title="the Pulumi project schema",
    env_var="ACPW_PULUMI_SCHEMA",
    shared_dir="../shared/pulumi-schemas",
    build_dir="build/pulumi-schemas",
    pins=(PULUMI_SCHEMA_PIN,),
    base_url="https://raw.githubusercontent.com/pulumi/pulumi",
    fetch_hint="make fetch-pulumi-schema",
    file="project.json",
)
DATA_SETS = (ISTIO_CRDS, PULUMI_SCHEMA)


def fetch(
    data: DataSet,
    root: Path,
    *,
    fetcher: Fetcher,
    timeout: float = 30.0,
    is_fetch_command: bool = False,
) -> Path:
    """Fetch every pinned file of ``data`` into its build directory; :class:`Unavailable` if not.

    ``is_fetch_command``: this is already ``data.fetch_hint`` running, so the message does not
    tell the user to run it again.
    """
    dest = root / data.build_dir
    for pin in data.pins:
        try:
            status = fetcher(pin, dest, data.base_url, timeout)
        except FetchError as error:
            what = "a directory holding them" if data.file is None else f"a copy of {pin.name}"
            reason = " ".join(str(error).split())
            retry = (
                f"it needs network access to {data.base_url}"
                if is_fetch_command
                else f"run `{data.fetch_hint}` with network access"
            )
            raise Unavailable(
                f"cannot find or fetch {data.title} ({reason}): {retry}, or set "
                f"{data.env_var} to {what}"
            ) from error
        if not status.startswith("ok"):  # quiet when already there
            print(status, file=sys.stderr)
    return data.target(dest)


def resolve(
    data: DataSet,
    root: Path = ROOT,
    environ: Mapping[str, str] | None = None,
    *,
    fetcher: Fetcher = fetch_istio_crds.fetch_one,
) -> tuple[str, Path]:
    """Where the tests find ``data``: ``("env" | "shared" | "fetched", path)``."""
    environ = os.environ if environ is None else environ
    configured = environ.get(data.env_var)
    if configured:
        path = Path(configured).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.exists():
            raise Unavailable(f"{data.env_var}={configured}: no such file or directory")
        return "env", path
    shared = data.target((root / data.shared_dir).resolve())
    if shared.exists():
        return "shared", shared
    return "fetched", fetch(data, root, fetcher=fetcher)


def main(
    argv: Sequence[str] | None = None,
    *,
    fetcher: Fetcher = fetch_istio_crds.fetch_one,
    execvp: Callable[[str, list[str]], object] = os.execvp,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fetch",
        choices=[d.name for d in DATA_SETS],
        help="only fetch this data set into build/ (whatever is configured or beside the repo)",
    )
    parser.add_argument("--run", nargs=argparse.REMAINDER, help="command to run with the paths set")
    args = parser.parse_args(argv)
    try:
        if args.fetch:
            data = next(d for d in DATA_SETS if d.name == args.fetch)
            path = fetch(data, ROOT, fetcher=fetcher, is_fetch_command=True)
            print(f"run the tests against it with: {data.env_var}={path.relative_to(ROOT)}")
            return 0
    except Unavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    resolved, problems = {}, []
    for data in DATA_SETS:
        try:
            resolved[data.env_var] = resolve(data, ROOT, fetcher=fetcher)
        except Unavailable as error:
            problems.append(str(error))
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)  # one line
        return 1
    for env_var, (how, path) in resolved.items():
        os.environ[env_var] = str(path)
        if args.run is None:
            print(f"{env_var}={path}")
        elif how == "fetched":
            print(f"{env_var}={path} (fetched)", file=sys.stderr)
    if args.run:
        execvp(args.run[0], list(args.run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
