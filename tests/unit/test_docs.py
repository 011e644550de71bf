"""The documents stay true to the repository: a short README, links that resolve inside it,
and every test docs/guarantees.md and docs/security.md cite still exists."""

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [PROJECT / "README.md", PROJECT / "CHANGELOG.md", *(PROJECT / "docs").glob("*.md"), *(PROJECT / "web").glob("*.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Any path written relative to a document's folder, in a link or in the text.
UPWARD_PATH = re.compile(r"(?:\.\./)+[\w./-]*")
CITED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)")


def test_the_readme_stays_short():
    assert (PROJECT / "README.md").stat().st_size < 8 * 1024


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(PROJECT)))
def test_relative_links_resolve_inside_the_repository(document):
    text = document.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(PROJECT) or not path.exists():
            broken.append(target)
    assert broken == []
    outside = [p for p in UPWARD_PATH.findall(text) if not (document.parent / p).resolve().is_relative_to(PROJECT)]
    assert outside == []


def _missing(cited):
    return [
        f"{path}::{name}"
        for path, name in cited
        if not (PROJECT / path).exists() or f"def {name}(" not in (PROJECT / path).read_text()
    ]


def test_every_test_the_guarantees_cite_exists():
    cited = CITED_TEST.findall((PROJECT / "docs" / "guarantees.md").read_text())
    assert len(cited) > 50
    assert _missing(cited) == []


def test_every_threat_names_its_control_and_an_existing_test():
    rows = [line for line in (PROJECT / "docs" / "security.md").read_text().splitlines() if line.startswith("| ")]
    header, threats = rows[0], rows[1:]
    assert header.split("|")[1:-1] == [" asset ", " threat ", " control ", " test that proves it "]
    assert len(threats) >= 15
    for row in threats:
        asset, threat, control, tests = (cell.strip() for cell in row.split("|")[1:-1])
        assert asset and threat and control, row
        cited = CITED_TEST.findall(tests)
        assert cited, f"no test cited for: {threat}"
        assert _missing(cited) == [], threat


def test_the_changelog_names_the_version_being_released():
    import tomllib

    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    releases = re.findall(r"^## (\d+\.\d+\.\d+) — (\d{4}-\d{2}-\d{2})$", (PROJECT / "CHANGELOG.md").read_text(), re.M)
    assert releases, "CHANGELOG.md: each release is a heading '## X.Y.Z — YYYY-MM-DD'"
    assert releases[0][0] == version, "the newest release in CHANGELOG.md is pyproject.toml's version"
