"""The fork server (tests/forkserver.py) runs a command exactly as a new interpreter does."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest
from conftest import EXAMPLES, run_cli


@pytest.mark.parametrize("args, env", [
    (("--version",), {}),
    (("validate", str(EXAMPLES)), {}),
    (("validate", str(EXAMPLES), "--format", "json"), {}),
    (("generate", str(EXAMPLES), "-o", "{out}", "--check"), {"NO_COLOR": "1", "TERM": "dumb"}),
    (("show", str(EXAMPLES), "nobody@example.com"), {"COLUMNS": "40"}),
    (("generate", "/nonexistent/inventory"), {}),
    (("no-such-command",), {}),
], ids=["version", "validate", "json", "check", "show-missing", "missing-inventory", "usage"])
def test_a_forked_command_is_a_fresh_command(tmp_path, args, env):
    args = tuple(a.replace("{out}", str(tmp_path / "out")) for a in args)
    forked = run_cli(*args, env=env, cwd=tmp_path)
    fresh = run_cli(*args, env=env, cwd=tmp_path, fresh=True)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_command_over_its_time_is_stopped(tmp_path):
    """A server that accepts and never answers: check-servers waits its own 30 s, the test's 2 s stop it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        (tmp_path / "inventory.yaml").write_text(
            "organization: {name: Example GmbH, identifier: com.example}\nservers:\n"
            + "".join(f"  {kind}: {{host: 127.0.0.1, port: {port}, security: none, allow_insecure: true}}\n"
                      for kind in ("imap", "pop3", "smtp"))
            + "users: [{email: a@example.com, name: A, devices: [desktop]}]\n", encoding="utf-8")
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            run_cli("check-servers", str(tmp_path), "--timeout", "30", timeout=2)
        assert time.monotonic() - started < 20
    assert run_cli("--version").returncode == 0          # the server goes on serving
