"""The instance read once for a chain of commands (``matcher run``), and read afresh everywhere else.

``matcher run`` calls the solve, map, export (twice) and brief commands on one instance; each of them
used to read it again (about 2 s each on Guizhou). Inside :func:`shared_instance` the commands get the
first reading; outside it every command reads the folder, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SHARED: dict[Path, Any] = {}
_OPEN: set[Path] = set()


def read_instance_for_command(path: Path | str) -> Any:
    """The instance at ``path``: the one already read inside :func:`shared_instance`, else read now."""
    from matcher.instance import read_instance

    key = Path(path).resolve()
    if key not in _OPEN:
        return read_instance(path)
    if key not in _SHARED:
        _SHARED[key] = read_instance(path)
    return _SHARED[key]


@contextlib.contextmanager
def shared_instance(path: Path | str) -> Iterator[None]:
    """Within the block, commands reading the instance at ``path`` share one reading (the commands only read it)."""
    key = Path(path).resolve()
    _OPEN.add(key)
    try:
        yield
    finally:
        _OPEN.discard(key)
        _SHARED.pop(key, None)
