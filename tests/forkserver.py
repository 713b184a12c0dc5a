"""Run the command line in its own process without paying for a new interpreter each time.

A fork server is a Python process that has imported the package's core (Jinja2, rich, typer, the
stages) and nothing that reads the environment at import time (``generator.cli``: its consoles read
``NO_COLOR``, ``TERM`` and the terminal when they are made). For each command it forks a child, which
takes the test's environment, working directory and argument list, points file descriptors 0, 1 and 2
at /dev/null and two files, imports the command line afresh and runs ``python -m generator`` as the
interpreter would (exit status from ``SystemExit``, a traceback and status 1 for anything else, exit
handlers run). The child is a separate process like any other: its own environment, limits, signal
handlers, working directory and exit status; only the start-up is shared.

Commands whose result could depend on the interpreter's start-up (the locale and the ``PYTHON*``
variables, which decide the standard streams' encoding and the import path) run in a new interpreter
instead, as does every command when ``MAILPROFILES_TEST_FRESH=1``.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Variables read when an interpreter starts (stream encodings, import path, flags): a command whose
# environment differs from the server's in one of these gets a new interpreter.
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")
STARTUP_PREFIX = "PYTHON"

SERVER = r'''
import json, os, sys, traceback
import importlib, pkgutil
import generator
def walk(path, prefix):
    # not pkgutil.walk_packages: it imports every package to look inside, generator.cli too
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.startswith(("generator.cli", "generator.__main__")):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            walk(module.__path__, info.name + ".")
walk(generator.__path__, "generator.")
# What the command line imports as it runs (typer's coercion of arguments brings pydantic in some releases):
# imported here when present, so that each command does not pay for it again.
for name in ("typer", "typer._coercion", "typer._adapters", "typer._click.decorators", "pydantic",
             "importlib.metadata", "zoneinfo", "rich.console", "rich.progress", "rich.table"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass

def child(request):
    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(os.open(request["stdout"], os.O_WRONLY | os.O_TRUNC), 1)
    os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_TRUNC), 2)
    sys.argv = [generator.__path__[0] + "/__main__.py", *request["args"]]
    status = 0
    try:
        import runpy
        runpy.run_module("generator", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            print(code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    try:
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)

reply = sys.stdout
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    reply.write(json.dumps({"pid": pid}) + "\n")
    reply.flush()
    _, status = os.waitpid(pid, 0)
    reply.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n")
    reply.flush()
'''


class ForkServer:
    """One server per test process, started on first use."""

    def __init__(self, root: Path | None):
        self.root = root
        self.process: subprocess.Popen[str] | None = None
        self.environment: dict[str, str] = {}
        self.pending = b""
        self.files = Path(tempfile.mkdtemp(prefix="mailprofiles-cli-"))

    def start(self, env: dict[str, str]) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.environment = dict(env)
            self.pending = b""
            self.process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, bufsize=1, env=env, cwd=tempfile.gettempdir())
        return self.process

    def fits(self, env: dict[str, str]) -> bool:
        """Whether a command with this environment would start as the server did."""
        if os.environ.get("MAILPROFILES_TEST_FRESH") == "1":
            return False
        if self.process is None:
            return True
        names = set(env) | set(self.environment)
        return all(env.get(n) == self.environment.get(n) for n in names
                   if n in STARTUP_VARIABLES or n.startswith(STARTUP_PREFIX))

    def run(self, args: list[str], cwd: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        server = self.start(env)
        assert server.stdin is not None
        stdout, stderr = self.files / "stdout", self.files / "stderr"
        stdout.write_bytes(b"")
        stderr.write_bytes(b"")
        request = {"args": args, "cwd": cwd, "env": env, "stdout": str(stdout), "stderr": str(stderr)}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        pid = self.reply(30)["pid"]
        try:
            status = self.reply(timeout)["status"]
        except subprocess.TimeoutExpired:
            os.killpg(pid, 9)
            self.reply(30)
            raise subprocess.TimeoutExpired([sys.executable, "-m", "generator", *args], timeout) from None
        encoding = "utf-8" if env.get("PYTHONUTF8") == "1" else None
        return subprocess.CompletedProcess([sys.executable, "-m", "generator", *args], int(status),
                                           stdout.read_text(encoding=encoding), stderr.read_text(encoding=encoding))

    def reply(self, timeout: float) -> dict[str, int]:
        """The server's next line, read from its pipe without a buffer that select() could not see."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("fork server", timeout)
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("the fork server ended")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(30)
        for name in ("stdout", "stderr"):
            (self.files / name).unlink(missing_ok=True)
        self.files.rmdir()
