"""The ``hivekeeper`` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from hivekeeper import __version__

    print(f"hivekeeper {__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
