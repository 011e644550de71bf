"""The backfill's default files live in the project's var/ folder, wherever its module sits:
`make clean` empties build/, and a resume state must outlive it."""

from pathlib import Path

from chalicelib.legacy import backfill
from chalicelib.legacy.checkpoint import Checkpoint

PROJECT = Path(__file__).resolve().parents[2]
DEFAULTS = (backfill.DEFAULT_STATE, backfill.DEFAULT_DRY_RUN_STATE, backfill.DEFAULT_LOG)


def test_default_state_and_log_are_under_the_projects_var_folder():
    for path in DEFAULTS:
        assert path.parent == PROJECT / "var"


def test_no_default_is_under_build_which_make_clean_deletes():
    for path in DEFAULTS:
        assert not path.is_relative_to(PROJECT / "build")


def test_a_dry_run_and_a_real_run_default_to_their_own_state_files():
    assert backfill.parse_args([]).state == backfill.DEFAULT_STATE
    assert backfill.parse_args(["--dry-run"]).state == backfill.DEFAULT_DRY_RUN_STATE
    assert backfill.parse_args([]).log_file == str(backfill.DEFAULT_LOG)


def test_the_command_names_its_module_path():
    assert "chalicelib.legacy.backfill" in (backfill.__doc__ or "")


def test_the_state_files_folder_is_created_when_the_state_is_first_written(tmp_path):
    state = tmp_path / "var" / "backfill-state.json"  # var/ does not exist yet, as in a fresh clone
    Checkpoint.open(state, "sessions", total_segments=2, dry_run=False)
    assert state.is_file()
