"""What in the watched folder may be read: regular files whose real path stays inside it.

Anyone who can drop a file into the inbox could otherwise drop a symlink to a file the
server's user can read but the dropper cannot (a key, another tenant's log): its lines would
be ingested or, failing to parse, copied with their text into ``rejected/``. A symlink to a
file inside the inbox is still read; one that leaves it is skipped and logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
_warned: set[str] = set()


def readable(inbox: Path, path: Path) -> bool:
    """True when ``path`` is a regular file whose real location is inside ``inbox``."""
    try:
        if not path.is_file():
            return False
        path.resolve(strict=True).relative_to(inbox.resolve())
        return True
    except ValueError:
        if str(path) not in _warned and len(_warned) < 1_000:
            _warned.add(str(path))
            log.warning("%s points outside the watched folder %s; not read", path, inbox)
        return False
    except OSError:
        return False
