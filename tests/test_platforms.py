"""Supported systems: Linux runs it; elsewhere the command refuses with a clear message and exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
import types

from conftest import ROOT

from generator.platforms import unsupported


def test_this_linux_is_supported():
    assert sys.platform.startswith("linux") and unsupported() is None


def test_windows_is_refused_with_advice():
    problem = unsupported("win32")
    assert problem is not None
    assert problem.startswith("mailprofiles does not run on win32: it needs the POSIX file calls")
    assert "It runs on Linux (tested on Debian 12)" in problem and "WSL" in problem


def test_a_system_without_the_posix_calls_is_refused_whatever_its_name():
    lacking = types.ModuleType("os")
    lacking.O_DIRECTORY = os.O_DIRECTORY
    lacking.O_NONBLOCK = os.O_NONBLOCK
    lacking.open, lacking.stat, lacking.rename, lacking.unlink, lacking.mkdir = (
        os.open, os.stat, os.rename, os.unlink, os.mkdir)
    lacking.supports_dir_fd = {os.open, os.stat}
    problem = unsupported("sunos5", lacking)
    assert problem is not None and "(this Python lacks O_NOFOLLOW, dir_fd for rename, dir_fd for unlink, " \
        "dir_fd for mkdir)" in problem and "WSL" not in problem
    assert unsupported("darwin") is None       # macOS has the calls: not refused, though not tested


def test_the_command_exits_2_with_the_message_not_a_traceback():
    """The command as it would start on Windows (the platform value simulated after the imports)."""
    code = ("import sys; sys.argv = ['mailprofiles', 'generate', 'examples', '-o', 'out']\n"
            "from generator.cli import main\nsys.platform = 'win32'\nmain()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: mailprofiles does not run on win32")
    assert not (ROOT / "out").exists()
