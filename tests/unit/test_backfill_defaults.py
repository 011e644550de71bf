"""The backfill's default files live in the project's build/ folder, wherever its module sits."""

from pathlib import Path

from chalicelib.legacy import backfill

PROJECT = Path(__file__).resolve().parents[2]


def test_default_state_and_log_are_under_the_projects_build_folder():
    for path in (backfill.DEFAULT_STATE, backfill.DEFAULT_DRY_RUN_STATE, backfill.DEFAULT_LOG):
        assert path.parent == PROJECT / "build"


def test_the_command_names_its_module_path():
    assert backfill.parse_args([]).state == backfill.DEFAULT_STATE
    assert "chalicelib.legacy.backfill" in (backfill.__doc__ or "")
