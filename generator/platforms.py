"""Which systems mailprofiles runs on, and a clear refusal on the others (instead of a traceback).

Tested: Linux (the CI runs on Debian 12; other current distributions are expected to work). The output stage needs
POSIX file calls that Windows does not have: opening a folder or file without following a link
(``O_NOFOLLOW``, ``O_DIRECTORY``), never blocking on a FIFO (``O_NONBLOCK``), and working relative to an
open folder (``dir_fd`` for open, stat, rename and unlink) so that no link swapped in during a run is
followed. macOS has them and is not refused, but no test runs there. Windows is refused: WSL (the
Windows Subsystem for Linux) runs it as on Linux.
"""
from __future__ import annotations

import os
import sys
from types import ModuleType

TESTED = "Linux (tested on Debian 12)"
_FLAGS = ("O_NOFOLLOW", "O_DIRECTORY", "O_NONBLOCK")
_DIR_FD_CALLS = ("open", "stat", "rename", "unlink", "mkdir")


def unsupported(platform: str | None = None, system: ModuleType = os) -> str | None:
    """Why this system cannot run mailprofiles (a sentence for the user), or None when it can.
    ``platform`` and ``system``: ``sys.platform`` and the ``os`` module unless given (a test passes others)."""
    platform = sys.platform if platform is None else platform
    missing = [flag for flag in _FLAGS if not hasattr(system, flag)]
    supports: set[object] = getattr(system, "supports_dir_fd", set())
    missing += [f"dir_fd for {call}" for call in _DIR_FD_CALLS if getattr(system, call, None) not in supports]
    if platform == "win32" or missing:
        lacking = f" (this Python lacks {', '.join(missing)})" if missing else ""
        advice = "; on Windows, run it in WSL (the Windows Subsystem for Linux)" if platform == "win32" else ""
        return (f"mailprofiles does not run on {platform}: it needs the POSIX file calls that keep its writes "
                f"safe from links{lacking}. It runs on {TESTED}; macOS is not tested{advice}.")
    return None
