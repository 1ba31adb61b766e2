"""Example traces that ship inside the wheel (the project's ``examples/traces``): replay one
from any project that installed recstate, without the source tree::

    from recstate.examples import trace_path
    from recstate.replay import replay

    with trace_path("tencent-200min.jsonl") as path:
        report = replay(path)

or, on the command line, ``recstate replay "$(python -m recstate.examples tencent-200min)"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

__all__ = ["path_of", "trace_path", "traces"]

#: Where a source checkout keeps them (an editable install has no copy in the package).
_SOURCE = Path(__file__).resolve().parent.parent.parent / "examples" / "traces"


def _root() -> resources.abc.Traversable:
    shipped = resources.files(__name__) / "traces"
    return shipped if shipped.is_dir() else _SOURCE


def traces() -> list[str]:
    """The names of the example traces."""
    return sorted(p.name for p in _root().iterdir() if p.name.endswith(".jsonl"))


@contextlib.contextmanager
def trace_path(name: str) -> Iterator[Path]:
    """A file system path to the example trace ``name`` for the time of the ``with``."""
    if name not in traces():
        raise KeyError(f"no example trace {name!r}; there are: {', '.join(traces())}")
    with resources.as_file(_root() / name) as path:
        yield Path(path)


def path_of(name: str) -> Path:
    """The example trace's path where it is a real file (an installed wheel, a checkout)."""
    with trace_path(name) as path:
        return path

