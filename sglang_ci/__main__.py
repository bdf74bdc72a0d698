"""Entry point: the only place that turns a result into a process exit."""

from __future__ import annotations

import sys

from sglang_ci.cli import main_exit_code


def main() -> None:
    sys.exit(main_exit_code())


if __name__ == "__main__":
    main()
