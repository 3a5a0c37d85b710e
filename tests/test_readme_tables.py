"""The Istio facts of the docs are generated from acpw/istio_versions.py and must be current."""

from __future__ import annotations

import pytest

from acpw.istio_versions import CHANGES, MATRIX_MINORS, Change
from tools import readme_tables
from tools.readme_tables import (
    ISTIO_VERSIONS_MD,
    README,
    VERIFICATION_MD,
    StaleReadmeError,
    istio_versions_md,
    matrix_table,
    render,
)


def test_generated_files_are_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "README.md is stale: run `python -m tools.readme_tables --write`"
    verification = VERIFICATION_MD.read_text(encoding="utf-8")
    assert render(verification, path=VERIFICATION_MD) == verification
    assert ISTIO_VERSIONS_MD.read_text(encoding="utf-8") == istio_versions_md()
    assert readme_tables.main(["--check"]) == 0


def test_the_readme_links_the_matrix_instead_of_copying_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert "docs/istio-versions.md" in text
    assert matrix_table().splitlines()[0] not in text


def test_a_new_release_moves_the_ranges_and_matrix() -> None:
    text = README.read_text(encoding="utf-8")
    newer = render(text, newest=31, matrix=(*MATRIX_MINORS[:-1], 31))
    assert "every Istio release\nfrom 1.12 to 1.31" in newer
    assert render(newer) == text
    verification = VERIFICATION_MD.read_text(encoding="utf-8")
    newer = render(verification, newest=31, matrix=(*MATRIX_MINORS[:-1], 31), path=VERIFICATION_MD)
    assert "1.23, 1.24, 1.31, see `tests/matrix.py`" in newer
    assert render(newer, path=VERIFICATION_MD) == verification
    page = istio_versions_md(newest=31, matrix=(*MATRIX_MINORS[:-1], 31))
    assert "| 1.24 – 1.31 | same |" in page
    assert "Supported: Istio 1.12 to 1.31" in page
    assert "1.24, 1.31 (each side" in page


def test_a_change_starts_a_row() -> None:
    table = matrix_table(
        (*CHANGES, Change("something_new", (27, 0), "wasm", "+ `newField`")), newest=31
    )
    rows = [line.split(" | ")[0].removeprefix("| ") for line in table.splitlines()[2:]]
    assert rows[-2:] == ["1.24 – 1.26", "1.27 – 1.31"]
    assert table.splitlines()[-1] == "| 1.27 – 1.31 | same | + `newField` | same | same | same |"


def test_changes_outside_the_range_or_without_column_add_no_row() -> None:
    hidden = (Change("x", (16, 0), None), Change("y", (40, 0), "wasm", "future"))
    assert matrix_table((*CHANGES, *hidden)) == matrix_table()


def test_missing_prose_is_reported() -> None:
    with pytest.raises(StaleReadmeError, match="expected one match"):
        render("no ranges here")
