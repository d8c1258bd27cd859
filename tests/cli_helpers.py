"""Helpers for the command-line tests."""

from levitor.cli import main


def one_line_error(capsys) -> str:
    """The single line a failed command wrote to stderr (fails when there are more)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_cli(args):
    """``main`` as the console script runs it: argparse errors exit with status 2."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code
