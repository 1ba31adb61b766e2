"""``python -m recstate``: the ``recstate`` command, for where its script is not on PATH."""

from recstate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
