"""Where admins edit and run it: the schema for editors, init's schema line, completion, the pre-commit hook."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli
from jsonschema import Draft202012Validator


def test_schema_command_prints_the_shipped_schema():
    printed = run_cli("schema")
    assert printed.returncode == 0
    assert json.loads(printed.stdout) == json.loads((ROOT / "schemas/inventory.schema.json").read_text())
    assert json.loads(run_cli("schema", "--kind", "profile").stdout)["title"] == "mailprofiles device profile"
    assert run_cli("schema", "--kind", "nope").returncode == 2


def test_init_writes_the_editor_schema_line_and_the_schema(tmp_path):
    assert run_cli("init", str(tmp_path / "site")).returncode == 0
    text = (tmp_path / "site/inventory.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=inventory.schema.json"
    schema = json.loads((tmp_path / "site/inventory.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(yaml.safe_load(text))) == []
    broken = yaml.safe_load(text)
    broken["servers"]["imap"]["prot"] = 993
    assert [e.validator for e in Draft202012Validator(schema).iter_errors(broken)] == ["additionalProperties"]
    assert run_cli("validate", str(tmp_path / "site")).returncode == 0


def test_shell_completion_is_available():
    """The installed command answers the shell's completion protocol (what --install-completion sets up)."""
    command = Path(sys.executable).with_name("mailprofiles")
    if not command.exists():
        if os.environ.get("CI"):
            pytest.fail("the test command installs the mailprofiles command")
        pytest.skip("mailprofiles is not installed next to this interpreter")
    env = {"PATH": os.environ.get("PATH", ""), "_MAILPROFILES_COMPLETE": "source_bash"}
    script = subprocess.run([str(command)], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert script.returncode == 0 and "_mailprofiles_completion()" in script.stdout
    env.update(_MAILPROFILES_COMPLETE="complete_bash", COMP_WORDS="mailprofiles gen", COMP_CWORD="1")
    words = subprocess.run([str(command)], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert "generate" in words.stdout.split()


def test_pre_commit_hook_validates_inventories(tmp_path):
    tool = shutil.which("pre-commit") or str(ROOT / ".venv/bin/pre-commit")
    if not os.path.exists(tool):
        pytest.fail("pre-commit is a test dependency")
    repo = tmp_path / "inventories"
    shutil.copytree(ROOT / "examples", repo / "site")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    passed = subprocess.run([tool, "try-repo", str(ROOT), "mailprofiles-validate", "--all-files"], cwd=repo,
                            capture_output=True, text=True, env=env, timeout=600)
    assert passed.returncode == 0 and "mailprofiles validate" in passed.stdout and "Passed" in passed.stdout, \
        passed.stdout + passed.stderr
    inventory = repo / "site/inventory.yaml"
    inventory.write_text(inventory.read_text().replace("port: 993", "port: 99993"))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    failed = subprocess.run([tool, "try-repo", str(ROOT), "mailprofiles-validate", "--all-files"], cwd=repo,
                            capture_output=True, text=True, env=env, timeout=600)
    assert failed.returncode == 1 and "servers.imap.port: 99993 is out of range 1..65535" in failed.stdout
    # A commit that changes only the roster (or a profile file, a template) is checked too: the hook validates
    # every inventory of the repository, not the files pre-commit would pass.
    inventory.write_text(inventory.read_text().replace("port: 99993", "port: 993"))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "valid"], cwd=repo, check=True, env=env)
    roster = repo / "site/users.csv"
    roster.write_text(roster.read_text().replace("desktop;laptop;phone", "desktop;laptop;fone"))
    subprocess.run(["git", "add", "site/users.csv"], cwd=repo, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True)
    assert staged.stdout.split() == ["site/users.csv"]
    roster_only = subprocess.run([tool, "try-repo", str(ROOT), "mailprofiles-validate"], cwd=repo,
                                 capture_output=True, text=True, env=env, timeout=600)
    assert roster_only.returncode == 1 and "'fone' is not a device profile (did you mean 'phone'?)" in \
        roster_only.stdout, roster_only.stdout + roster_only.stderr
