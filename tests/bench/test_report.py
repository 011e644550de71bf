"""bench/README.md is rendered from bench/results.json (bench/report.py): it names every
benchmark and every goal the results hold, and the committed copy is the current rendering."""

import json
from pathlib import Path

from bench.report import BENCHMARKS, SUMMARY, render, summary_rows

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _results() -> dict:
    return json.loads((BENCH / "results.json").read_text())


def test_the_readme_names_every_benchmark_and_goal_of_the_results():
    results = _results()
    text = render(results)
    measured = [name for name in BENCHMARKS if name in results]
    assert measured, "bench/results.json holds no benchmark"
    for name in measured:
        title = BENCHMARKS[name][0]
        assert f"## {title}" in text and f"bench/{name}.py" in text, name
    rows = summary_rows(results)
    assert rows
    for label, _, goal, met in rows:
        assert f"| {label.replace('|', chr(92) + '|')} |" in text, label
        assert f"| {goal} | {met} |" in text, (label, goal)
    assert results["when"] in text and results["machine"] in text
    assert "do not edit it by hand" in text


def test_every_summary_figure_belongs_to_a_benchmark():
    assert {path[0] for _, path, _, _ in SUMMARY} <= set(BENCHMARKS)


def test_a_figure_missing_from_the_results_is_left_out_not_invented():
    partial = {"when": "then", "machine": "here", "requests_per_op": {"start": 3, "poll": 1}}
    text = render(partial)
    assert "| requests: start | 3 | 2 | NO |" in text and "| requests: poll | 1 | 1 | yes |" in text
    assert "requests: end" not in text and "## Load" not in text


def test_the_committed_readme_is_the_rendering_of_the_committed_results():
    assert (BENCH / "README.md").read_text() == render(_results()), (
        "stale: `python -m bench --readme` rewrites it from bench/results.json"
    )


def test_every_summary_figure_of_a_measured_benchmark_is_in_the_results():
    """A path that names nothing would leave its figure out of the table without a word."""
    results = _results()
    expected = [label for label, path, _, _ in SUMMARY if path[0] in results]
    assert [row[0] for row in summary_rows(results)] == expected


def test_a_benchmark_s_own_tables_are_rendered():
    results = {
        "when": "then",
        "machine": "here",
        "fanout": {"tables": [{"title": "per shard", "header": ["shards", "sessions/s"], "rows": [[4, 12.5]]}]},
    }
    text = render(results)
    assert "per shard:\n\n| shards | sessions/s |\n|---|---|\n| 4 | 12.500 |" in text
