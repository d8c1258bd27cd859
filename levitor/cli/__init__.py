"""The ``levitor`` command line: one subcommand per module in this package.

The arguments are parsed and checked before anything heavy loads: the subcommand modules and
everything they import at the top (:mod:`levitor.limits`, the option modules, :mod:`.checks`)
are light, and each ``run`` imports NumPy, torch, the planner or the generator when it starts.
``levitor --help``, ``--version`` and any bad flag answer without loading torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

# Subcommand modules, each with ``add_parser(subparsers)`` and ``run(args) -> int``.
SUBCOMMANDS = ["plan", "demo", "generate"]
# OS errors about the name given, not the disk: the user's input, so exit status 2.
NAME_ERRNOS = {errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .checks import Parser

    parser = Parser(
        prog="levitor",
        description="LeviTor: move objects of an image along 3D trajectories and render a video.",
    )
    parser.add_argument("--version", action="version", version=f"levitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"levitor {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno in NAME_ERRNOS and exc.filename is not None:  # a path that cannot name a file
            print(f"levitor {args.command}: error: {exc.filename}: {exc.strerror}; give another path",
                  file=sys.stderr)
            return 2
        # a disk or permission problem while writing
        print(f"levitor {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"levitor {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
