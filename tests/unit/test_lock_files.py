"""The lock files (`make lock` compiles each requirements*.in into its .txt): every line pinned
and hashed, the Lambda's packages at one version everywhere, the operator venv's holding nothing
beyond the Lambda's, and each .in file's own pins kept in its compiled file."""

import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

PROJECT = Path(__file__).resolve().parents[2]
COMPILED = ["requirements.txt", "requirements-dev.txt", "requirements-ops.txt", "requirements-checkov.txt"]
SOURCES = {name.replace(".txt", ".in"): name for name in COMPILED}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;\\]+)")


def normalized(name: str) -> str:
    """PEP 503: `Typing_Extensions` and `typing-extensions` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(path: Path) -> List[str]:
    """The file's lines with backslash continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        text = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if text.endswith("\\"):
            current += text[:-1] + " "
            continue
        current += text
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def requirement_lines(path: Path) -> List[str]:
    return [line for line in logical_lines(path) if not line.startswith("-")]


def pins(path: Path) -> Dict[str, str]:
    """Package -> pinned version; a requirement line that is not an exact pin fails here."""
    found = {}
    for line in requirement_lines(path):
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact pin: {line[:80]}"
        found[normalized(match["name"])] = match["version"]
    return found


def top_level_pins(path: Path) -> Dict[str, str]:
    """An .in file's own pins and those of the files it includes with -r (not -c constraints)."""
    found: Dict[str, str] = {}
    for line in logical_lines(path):
        if line.startswith(("-r ", "--requirement ")):
            found.update(top_level_pins(path.parent / line.split(None, 1)[1]))
        elif not line.startswith("-"):
            match = PIN.match(line)
            assert match, f"{path.name}: a top-level requirement without an exact pin: {line}"
            found[normalized(match["name"])] = match["version"]
    return found


def test_every_lock_file_and_source_exists():
    assert all((PROJECT / name).is_file() for name in [*COMPILED, *SOURCES])


@pytest.mark.parametrize("lock", COMPILED)
def test_every_requirement_is_pinned_and_hashed(lock):
    lines = requirement_lines(PROJECT / lock)
    assert lines
    unhashed = [line.split()[0] for line in lines if "--hash=sha256:" not in line]
    assert unhashed == []
    assert pins(PROJECT / lock)  # every line an exact pin


@pytest.mark.parametrize("lock", ["requirements-dev.txt", "requirements-ops.txt"])
def test_the_lambdas_packages_have_the_same_version_in(lock):
    runtime = pins(PROJECT / "requirements.txt")
    other = pins(PROJECT / lock)
    differs: List[Tuple[str, str, str]] = [
        (name, version, other.get(name, "missing")) for name, version in runtime.items() if other.get(name) != version
    ]
    assert differs == []


def test_the_operator_venv_holds_nothing_the_lambda_does_not():
    runtime = pins(PROJECT / "requirements.txt")
    extra = {name: version for name, version in pins(PROJECT / "requirements-ops.txt").items() if name not in runtime}
    assert extra == {}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_source_files_pins_are_in_its_lock_file_at_that_version(source):
    wanted = top_level_pins(PROJECT / source)
    assert wanted
    locked = pins(PROJECT / SOURCES[source])
    differs = {
        name: (version, locked.get(name, "missing")) for name, version in wanted.items() if locked.get(name) != version
    }
    assert differs == {}
