from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from forkserver import ForkServer  # noqa: E402

try:  # the installed package (CI installs the wheel); a source checkout works too
    import generator  # noqa: F401
    INSTALLED = True
except ImportError:
    sys.path.insert(0, str(ROOT))
    INSTALLED = False


# The system tier: tests that start real programs (Thunderbird, Chromium, Dovecot and SMTP servers, openssl,
# pre-commit, install.sh, pip), kill or interrupt real runs, mount file systems, or run for many seconds by
# design. `pytest -m "not system"` leaves them out: the fast loop for every change. .ci/run runs both tiers.
SYSTEM_MODULES = {"test_thunderbird.py", "test_real_servers.py", "test_check_servers.py", "test_benchmark.py",
                  "test_workers.py", "test_thunderbird_oauth2.py", "test_thunderbird_policies.py",
                  "test_shard_engines.py", "test_autodiscover_automx2.py", "test_autodiscover_web.py"}
SYSTEM_TESTS = {
    "test_atomic.py::test_kill_at_many_points_never_loses_output",
    "test_atomic.py::test_a_folder_of_out_on_another_file_system_is_refused_before_the_commit_point",
    "test_atomic.py::test_a_journal_whose_target_became_another_file_system_does_not_wedge_later_runs",
    "test_handout.py::test_english_handout_in_a_browser",
    "test_handout.py::test_german_handout_in_a_browser",
    "test_handout.py::test_handout_is_self_contained_and_escaped",
    "test_handout.py::test_printed_one_device_per_page_and_a_groups_file_at_once",
    "test_editor.py::test_pre_commit_hook_validates_inventories",
    "test_editor.py::test_shell_completion_is_available",
    "test_surroundings.py::test_install_script_works_with_an_externally_managed_python",
    "test_surroundings.py::test_ctrl_c_before_the_commit_point_leaves_out_intact",
    "test_hostile.py::test_memory_stays_bounded_on_abuse",
    "test_surroundings.py::test_huge_lists_are_refused",
    "typing_check/test_registry_types.py::test_mypy_refuses_a_format_whose_functions_take_another_subject",
    "test_hostile.py::test_mutated_inventories_never_crash",
    "test_site_template_limits.py::test_a_site_template_that_runs_too_long_is_stopped",
    "test_site_template_limits.py::test_the_time_cap_holds_in_worker_processes",
    "test_signing.py::test_openssl_accepts_every_signed_profile_and_yields_the_plist",
}


_FAST_TIER = [False]


def pytest_configure(config):
    _FAST_TIER[0] = "not system" in (config.getoption("markexpr") or "")


def examples(full: int) -> int:
    """Hypothesis examples for a property test: all of them in a full run (.ci/run), a sixth in the fast tier."""
    return max(25, full // 6) if _FAST_TIER[0] else full


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        module = item.path.resolve().relative_to(here).as_posix()    # relative to tests/
        test = f"{module}::{item.nodeid.partition('::')[2].split('[')[0]}"
        if "mail_servers" in item.fixturenames or module in SYSTEM_MODULES or test in SYSTEM_TESTS:
            item.add_marker(pytest.mark.system)


_SERVERS: dict[int, ForkServer] = {}
_CWD: dict[int, str] = {}


def _working_directory() -> str:
    """Where a command runs unless a test says: an empty folder of its own, outside the source tree and outside
    every test's files, so that messages name those files by their absolute paths (a test that is about paths
    relative to the working directory gives ``cwd``)."""
    return _CWD.setdefault(os.getpid(), tempfile.mkdtemp(prefix="mailprofiles-cwd-"))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 120, fresh: bool = False):
    """Run the command exactly as an admin would: in a process of its own, outside the source tree (so that the
    installed package is what runs), started by the fork server (tests/forkserver.py) unless ``fresh`` asks for a
    new interpreter or the environment changes how an interpreter starts."""
    full_env = dict(os.environ)
    full_env.pop("COLUMNS", None)
    full_env["COLUMNS"] = "200"
    if not INSTALLED:
        full_env["PYTHONPATH"] = str(ROOT)
    if env:
        full_env.update(env)
    where = str(cwd or _working_directory())
    server = _SERVERS.setdefault(os.getpid(), ForkServer(ROOT))
    if not fresh and server.fits(full_env):
        return server.run(list(args), where, full_env, timeout)
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=where, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def pytest_unconfigure(config):
    for server in _SERVERS.values():
        server.close()
    for folder in _CWD.values():
        shutil.rmtree(folder, ignore_errors=True)


def replace_format(monkeypatch, name: str, **changes) -> None:
    """Swap one entry of the format registry for the test (e.g. a renderer that breaks its bytes)."""
    import dataclasses

    from generator.formats import registry as formats

    monkeypatch.setattr(formats, "FORMATS", tuple(dataclasses.replace(f, **changes) if f.name == name else f
                                                  for f in formats.FORMATS))


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_inventory(tmp_path):
    """Write an inventory (and optional extra files) into a fresh folder; returns the folder."""
    def write(text: str, **files: str) -> Path:
        folder = tmp_path / "inv"
        folder.mkdir(exist_ok=True)
        (folder / "inventory.yaml").write_text(text, encoding="utf-8")
        for name, content in files.items():
            (folder / name.replace("__", ".")).write_text(content, encoding="utf-8")
        return folder
    return write


BASE = """\
organization: {name: Example GmbH, identifier: com.example}
servers:
  imap: {host: imap.example.com}
  pop3: {host: pop.example.com}
  smtp: {host: smtp.example.com}
"""


@pytest.fixture(scope="session")
def mail_servers(tmp_path_factory):
    """Dovecot and SMTP on 127.0.0.1 with a test CA. Fails (not skips) in CI when Dovecot is missing.

    Both take passwords and OAuth2 bearer tokens (XOAUTH2, OAUTHBEARER); a token is valid when the local
    introspection endpoint knows it: ``tokens`` maps each login to a fresh random one."""
    import secrets
    import shutil
    import tempfile

    from introspection import Introspection
    from mailservers import LOGINS, Dovecot, Pki, SmtpServer

    tokens = {login: "tok-" + secrets.token_urlsafe(24) for login in LOGINS}
    introspection = Introspection({token: login for login, token in tokens.items()}).start()
    # Dovecot's unprivileged processes must traverse the folder: a world-readable one of its own.
    folder = Path(tempfile.mkdtemp(prefix="mailprofiles-servers-"))
    os.chmod(folder, 0o755)
    try:
        pki = Pki(folder / "pki").make()
        dovecot = Dovecot(folder / "dovecot", pki, introspection_url=introspection.url).start()
    except RuntimeError as exc:
        introspection.stop()
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    smtp = SmtpServer(pki, introspection_url=introspection.url).start()
    yield {"pki": pki, "dovecot": dovecot, "smtp": smtp, "folder": folder, "introspection": introspection,
           "tokens": tokens}
    smtp.stop()
    dovecot.stop()
    introspection.stop()
    shutil.rmtree(folder, ignore_errors=True)
