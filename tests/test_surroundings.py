"""The output folder and its parent are not ours: links, planted files, FIFOs, planted state, failures midway."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE, EXAMPLES, ROOT, run_cli

from generator import OutputError, generate
from generator.errors import PartialOutput

USERS = "users:\n  - {email: a@example.com, devices: [desktop, laptop]}\n  - {email: b@example.com, devices: [desktop]}\n"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and ".mailprofiles" not in p.parts}


def _consistent(out: Path) -> None:
    """Every manifest entry is on disk with its hash, and every artifact on disk is in the manifest."""
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {e["path"]: e["sha256"] for e in manifest["artifacts"]}
    on_disk = {p: hashlib.sha256(data).hexdigest() for p, data in _tree(out).items() if p != "manifest.json"}
    assert listed == on_disk


@pytest.fixture
def site(write_inventory, tmp_path):
    folder = write_inventory(BASE + USERS)
    out = tmp_path / "out"
    generate(folder, out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "file").write_text("not mailprofiles'")
    return folder, out, elsewhere


# 1. nothing outside OUT is written or deleted

def test_a_link_where_a_user_folder_goes_is_refused(site, tmp_path):
    folder, out, elsewhere = site
    before = _tree(out)
    for name in ("a@example.com", "b@example.com/desktop"):
        target = out / name
        os.rename(target, tmp_path / "moved")
        target.symlink_to(elsewhere)
        result = run_cli("generate", str(folder), "-o", str(out))
        assert result.returncode == 1, result.stderr
        assert f"{target} is a symbolic link" in result.stderr and "never followed" in result.stderr
        assert sorted(p.name for p in elsewhere.iterdir()) == ["file"]
        target.unlink()
        os.rename(tmp_path / "moved", target)
    assert _tree(out) == before


def test_a_link_at_an_artifact_or_the_manifest_is_refused(site):
    folder, out, elsewhere = site
    for name in ("a@example.com/desktop/prefs.js", "manifest.json"):
        saved = (out / name).read_bytes()
        (out / name).unlink()
        (out / name).symlink_to(elsewhere / "file")
        for args in ((), ("--check",)):
            result = run_cli("generate", str(folder), "-o", str(out), *args)
            assert result.returncode == 1 and "is a symbolic link" in result.stderr, result.stderr
        assert (elsewhere / "file").read_text() == "not mailprofiles'"
        (out / name).unlink()
        (out / name).symlink_to(elsewhere / "missing")            # dangling: never created through
        assert run_cli("generate", str(folder), "-o", str(out)).returncode == 1
        assert not (elsewhere / "missing").exists()
        (out / name).unlink()
        (out / name).write_bytes(saved)


def test_a_manifest_entry_through_a_link_deletes_nothing_outside(site):
    folder, out, elsewhere = site
    manifest = json.loads((out / "manifest.json").read_text())
    sha = hashlib.sha256((elsewhere / "file").read_bytes()).hexdigest()
    manifest["artifacts"].append({"kind": "device", "user": "a@example.com", "device": "link", "path": "link/file",
                                  "sha256": sha})
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "link").symlink_to(elsewhere)
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 1 and f"{out / 'link'} is a symbolic link" in result.stderr
    assert (elsewhere / "file").exists()


# 2. only what we wrote is removed

def test_only_unchanged_regular_files_of_ours_are_removed(site, write_inventory):
    folder, out, _ = site
    (out / "a@example.com/laptop/prefs.js").write_text("edited by the admin")
    os.unlink(out / "a@example.com/laptop/outlook.prf")
    os.mkfifo(out / "a@example.com/laptop/outlook.prf")
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "notes.txt").write_text("the admin's")
    manifest["artifacts"].append({"kind": "device", "user": "a@example.com", "device": "x", "path": "notes.txt",
                                  "sha256": "0" * 64})
    (out / "manifest.json").write_text(json.dumps(manifest))
    write_inventory(BASE + USERS.replace("[desktop, laptop]", "[desktop]"))
    result = generate(folder, out)
    assert [c.path for c in result.changes if c.status == "removed"] == [
        "a@example.com/laptop/autodiscover.reg", "a@example.com/laptop/autodiscover.xml",
        "a@example.com/laptop/mail.mobileconfig"]
    assert (out / "a@example.com/laptop/prefs.js").read_text() == "edited by the admin"
    assert (out / "notes.txt").read_text() == "the admin's"
    alerts = "\n".join(result.alerts)
    assert "laptop/prefs.js: it was changed after mailprofiles wrote it" in alerts
    assert "laptop/outlook.prf: it is a FIFO" in alerts and "notes.txt: it was changed" in alerts


# 3. state, journal and lock are ours or refused; nothing is kept next to OUT

def test_state_planted_next_to_out_is_never_replayed(site, tmp_path):
    folder, out, elsewhere = site
    planted = tmp_path / ".out.mailprofiles-staging"
    (planted / "files" / "a@example.com").mkdir(parents=True)
    (planted / "files" / "a@example.com" / "evil").symlink_to(elsewhere)
    (planted / "journal.json").write_text(json.dumps(
        {"files": ["a@example.com/evil"], "remove": ["a@example.com/desktop/prefs.js"], "manifest": False}))
    before = _tree(out)
    result = generate(folder, out)
    assert result.notes == () and result.count("unchanged") == len(result.artifacts)
    assert _tree(out) == before and not (out / "a@example.com/evil").exists()


def test_state_folder_that_is_not_ours_is_refused(site, tmp_path):
    folder, out, elsewhere = site
    state = out / ".mailprofiles"
    shutil.rmtree(state)                      # the run index of the first run
    state.symlink_to(elsewhere)
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 1 and "is a symbolic link, not mailprofiles' state folder" in result.stderr
    state.unlink()
    state.mkdir(mode=0o700)
    os.chmod(state, 0o777)
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 1 and "can be written by others" in result.stderr
    if os.geteuid() == 0:
        os.chmod(state, 0o700)
        os.chown(state, 65534, 65534)
        result = run_cli("generate", str(folder), "-o", str(out))
        assert result.returncode == 1 and "belongs to another user" in result.stderr


def test_a_journal_is_replayed_only_over_regular_staged_files(site, write_inventory, monkeypatch):
    from generator.output import writer

    folder, out, elsewhere = site
    write_inventory((BASE + USERS).replace("smtp.example.com", "smtp2.example.com"))
    monkeypatch.setattr(writer, "apply_journal", lambda *a, **k: (_ for _ in ()).throw(SystemExit(9)))
    with pytest.raises(SystemExit):
        generate(folder, out)
    monkeypatch.undo()
    staging = out / ".mailprofiles" / "staging"
    first = sorted(p for p in staging.rglob("*") if p.is_file())[0]
    first.unlink()
    first.symlink_to(elsewhere / "file")
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 1 and "is a symbolic link; the journal is not replayed" in result.stderr
    assert (elsewhere / "file").read_text() == "not mailprofiles'"


# 4. nothing blocks or reads without bound

def test_fifo_or_huge_file_where_ours_go_is_an_error_not_a_hang(site):
    folder, out, _ = site
    for name in ("manifest.json", "b@example.com/desktop/prefs.js"):
        saved = (out / name).read_bytes()
        (out / name).unlink()
        os.mkfifo(out / name)
        for args in ((), ("--check",)):
            result = run_cli("generate", str(folder), "-o", str(out), *args, timeout=60)
            assert result.returncode == 1 and "is a FIFO" in result.stderr, result.stderr
        (out / name).unlink()
        with open(out / name, "wb") as handle:
            handle.truncate(1 << 30)          # sparse 1 GiB: refused by its size, never read
        result = run_cli("generate", str(folder), "-o", str(out), timeout=60)
        assert result.returncode == 1 and "it is not read" in result.stderr, result.stderr
        (out / name).write_bytes(saved)


# 5. a failure after files were moved in says so, and a rerun completes it

@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_failure_while_moving_in_leaves_a_consistent_manifest(site, write_inventory, monkeypatch, failure):
    from generator.output import safefs

    folder, out, _ = site
    write_inventory((BASE + USERS).replace("smtp.example.com", "smtp2.example.com"))
    real = safefs.OutDir.move_in
    calls = []

    def flaky(self, source_dir, source, relative):
        calls.append(relative)
        if len(calls) == 3:
            raise failure
        return real(self, source_dir, source, relative)

    monkeypatch.setattr(safefs.OutDir, "move_in", flaky)
    with pytest.raises(PartialOutput) as info:
        generate(folder, out)
    assert "partly updated (2 of " in str(info.value) and "run the same command again" in str(info.value)
    assert info.value.exit_code == (130 if isinstance(failure, KeyboardInterrupt) else 1)
    _consistent(out)
    monkeypatch.undo()
    check = generate(folder, out, check=True)
    assert check.unfinished and any("partly updated" in a for a in check.alerts)
    assert run_cli("generate", str(folder), "-o", str(out), "--check").returncode == 1
    done = generate(folder, out)
    assert done.notes == ("completed an interrupted run",)
    _consistent(out)
    assert b"smtp2.example.com" in (out / "a@example.com/desktop/prefs.js").read_bytes()
    assert sorted(os.listdir(out / ".mailprofiles")) == ["index"]   # no staging files, no journal


def test_ctrl_c_after_the_commit_point_says_what_state_out_is_in(site, write_inventory, monkeypatch, capsys):
    from generator import cli
    from generator.output import safefs

    folder, out, _ = site
    write_inventory((BASE + USERS).replace("smtp.example.com", "smtp2.example.com"))
    monkeypatch.setattr(safefs.OutDir, "move_in", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    monkeypatch.setattr(sys, "argv", ["mailprofiles", "generate", str(folder), "-o", str(out)])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 130
    assert "interrupted while moving the new files in" in capsys.readouterr().err


# 12. corrupt state is not a bug

def test_corrupt_manifest_entries_and_journal_are_not_bugs(site):
    folder, out, _ = site
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"] += [{"path": 5}, {"path": "x", "sha256": 1}, {"user": 5, "path": "y", "sha256": "0" * 64},
                              "text", {"path": "z/prefs.js", "sha256": "0" * 64, "device": ["list"]}]
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "warning: ignored 5 malformed entries of manifest.json" in result.stderr
    (out / "manifest.json").write_text("{not json")
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 0 and "is not a readable manifest" in result.stderr
    (out / ".mailprofiles").mkdir(mode=0o700, exist_ok=True)
    (out / ".mailprofiles" / "journal.json").write_text('{"version": 1, "moves": [["0", "../../etc/x"]]}')
    result = run_cli("generate", str(folder), "-o", str(out))
    assert result.returncode == 0 and "ignored a damaged journal" in result.stderr
    _consistent(out)


def test_init_refuses_files_links_and_unwritable_places(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("init", str(blocker))
    assert result.returncode == 1 and "exists and is not a folder" in result.stderr
    result = run_cli("init", str(blocker / "sub"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    site = tmp_path / "site"
    site.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (site / "inventory.yaml").symlink_to(victim)
    for args in ((), ("--force",)):
        result = run_cli("init", str(site), *args)
        assert result.returncode == 1 and "symbolic link" in result.stderr
    assert victim.read_text() == "keep"
    (site / "inventory.yaml").unlink()
    assert run_cli("init", str(site)).returncode == 0
    again = run_cli("init", str(site))
    assert again.returncode == 1 and "already exists; use --force" in again.stderr


# 7. user text is never console markup

def test_names_are_printed_literally(write_inventory):
    folder = write_inventory(BASE.replace("Example GmbH", "'Example [bold]GmbH'") + (
        "users:\n  - email: a@example.com\n    name: 'Anna [red]x[/red] :fire:'\n"
        "    devices: [{name: 'mac [/red]', profile: laptop}, {name: ':fire: pad', profile: phone}, desktop]\n"))
    shown = run_cli("show", str(folder), "a@example.com")
    assert shown.returncode == 0, shown.stderr
    assert "a@example.com / mac [/red] (profile laptop)" in shown.stdout and ":fire: pad" in shown.stdout
    assert "🔥" not in shown.stdout
    checked = run_cli("validate", str(folder))
    assert "apple-no-bcc: 2 devices, e.g. a@example.com/:fire: pad, a@example.com/mac [/red]:" in checked.stderr
    assert "a@example.com/:fire: pad/apple: apple-no-bcc" in run_cli("validate", str(folder), "-v").stderr
    assert "🔥" not in checked.stderr


# 8. an inventory cannot make the tool print other files

def test_rosters_and_profiles_stay_in_the_inventory_folder(write_inventory, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "shadow.csv").write_text("root:SECRET-HASH-1234567890:19000:0:99999:7:::\n")
    (secret / "p").mkdir()
    folder = write_inventory(BASE + f"users_file: {secret / 'shadow.csv'}\nprofiles_dir: ../secret/p\n")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1
    assert "users_file: users_file" in result.stderr and "leads outside the inventory's folder" in result.stderr
    assert "profiles_dir: profiles_dir '../secret/p' leads outside" in result.stderr
    assert "SECRET" not in result.stderr
    (folder / "link.csv").symlink_to(secret / "shadow.csv")
    write_inventory(BASE + "users_file: link.csv\n")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1 and "leads outside" in result.stderr and "SECRET" not in result.stderr
    allowed = run_cli("validate", str(folder), "--allow-path", str(secret))
    assert allowed.returncode == 1 and "unknown column 'root:SECRET-HASH-1234567890:19000:0:9999'…" in allowed.stderr
    assert "99999:7" not in allowed.stderr


def test_profile_files_are_confined_each_and_quoted_at_most_in_short(write_inventory, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    lines = [f"user{i}:SECRET-HASH-{i}:19000:0:99999:7:::" for i in range(40)]
    (secret / "passwd").write_text("\n".join(lines) + "\n")
    (secret / "env").write_text("".join(f"TOKEN_{i}: SECRET-{i}\n" for i in range(40)))
    (secret / "id_key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA"
                                   "SECRET\n-----END OPENSSH PRIVATE KEY-----\n")
    folder = write_inventory(BASE + "profiles_dir: profiles\n" + "users:\n  - {email: a@example.com, devices: [desktop]}\n")
    profiles = folder / "profiles"
    profiles.mkdir()
    (profiles / "passwd.yaml").symlink_to(secret / "passwd")
    (profiles / "key.yaml").symlink_to(secret / "id_key")
    (profiles / "env.yaml").symlink_to(secret / "env")
    # the inventory named relative to the working directory (its files are then named so in every message)
    result = run_cli("validate", "inv", cwd=tmp_path)
    profiles = Path("inv", "profiles")
    assert result.returncode == 1 and "SECRET" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[:3] == [
        f"{profiles / 'env.yaml'}: profile file leads outside the inventory's folder (keep the profiles beside the "
        "inventory, or allow their folder with --allow-path)",
        f"{profiles / 'key.yaml'}: profile file leads outside the inventory's folder (keep the profiles beside the "
        "inventory, or allow their folder with --allow-path)",
        f"{profiles / 'passwd.yaml'}: profile file leads outside the inventory's folder (keep the profiles beside the "
        "inventory, or allow their folder with --allow-path)"]
    allowed = run_cli("validate", "inv", "--allow-path", str(secret), cwd=tmp_path)   # read, quoted only in short
    problems = allowed.stderr.splitlines()[:-1]
    assert allowed.returncode == 1 and len(problems) == 3, allowed.stderr
    assert problems[0].startswith(f"{profiles / 'env.yaml'}:1:1: a profile file holds only 'description' and "
                                  "'settings', not 'TOKEN_0' (and 39 more)")
    assert problems[1].startswith(f"{profiles / 'key.yaml'}:1:1: a profile file is a mapping with 'settings:'")
    assert problems[2].startswith(f"{profiles / 'passwd.yaml'}:1:1: a profile file holds only 'description' and "
                                  "'settings', not 40 other keys")
    assert "SECRET" not in allowed.stderr and "99999" not in allowed.stderr


def test_profile_files_that_are_not_regular_files_or_too_big_are_refused_without_blocking(write_inventory, tmp_path):
    folder = write_inventory(BASE + "profiles_dir: profiles\n" + "users:\n  - {email: a@example.com, devices: [desktop]}\n")
    profiles = folder / "profiles"
    profiles.mkdir()
    os.mkfifo(profiles / "fifo.yaml")
    (profiles / "dir.yaml").mkdir()
    with open(profiles / "big.yaml", "wb") as big:      # sparse: its size is what counts, nothing is read
        big.truncate(32 * 1024 * 1024 + 1)
    result = run_cli("validate", str(folder), timeout=30, cwd=tmp_path / "inv")
    profiles = Path("profiles")             # relative to the working directory, as every message names files
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[:3] == [
        f"{profiles / 'big.yaml'}: profile file is 33,554,433 bytes, more than the limit of 33,554,432 bytes",
        f"{profiles / 'dir.yaml'}: profile path is not a regular file",
        f"{profiles / 'fifo.yaml'}: profile path is not a regular file"]


def test_syntax_errors_quote_a_short_excerpt(write_inventory):
    folder = write_inventory(BASE + "users: [" + "x" * 500 + "}\n")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1 and "offending line: 'users: [xxx" in result.stderr
    assert "x" * 100 not in result.stderr


# 9. bounded work

def test_huge_lists_are_refused(write_inventory):
    """The documented bound of 100,000 values, as an admin meets it (a YAML parse of 150,000 values: system tier)."""
    folder = write_inventory(BASE + "users: [" + ",".join(["0"] * 150_000) + "]\n")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1 and "more than 100,000 values" in result.stderr
    assert len(result.stderr.splitlines()) == 2


def test_a_document_over_the_value_bound_is_one_problem(write_inventory):
    from generator import validate
    from generator.inventory.bounds import DEFAULT_LIMITS, Limits
    assert DEFAULT_LIMITS.max_nodes == 100_000
    folder = write_inventory(BASE + "users: [" + ",".join(["0"] * 1_500) + "]\n")
    errors = validate(folder, Limits(max_nodes=1_000)).errors
    assert [e.message for e in errors] == ["the document holds more than 1,000 values"]
    assert "CSV roster" in errors[0].hint


def test_problems_are_capped(write_inventory):
    folder = write_inventory(BASE + "users: [" + ",".join(["0"] * 5_000) + "]\n")
    result = run_cli("validate", str(folder))
    lines = result.stderr.splitlines()
    assert len(lines) == 102 and lines[-2].startswith("... and more problems: the listing stops at 100")
    assert lines[-1] == "100+ problem(s) found; nothing was written."


# 10. --limit

def test_limit_needs_a_pattern_and_warns_when_it_selects_nobody(site):
    folder, out, _ = site
    before = _tree(out)
    for bad in ("", ",", "a@example.com,", " , "):
        result = run_cli("generate", str(folder), "-o", str(out), "--limit", bad)
        assert result.returncode == 2 and "has an empty pattern" in result.stderr, (bad, result.stderr)
    result = run_cli("generate", str(folder), "-o", str(out), "--limit", "nobody@*")
    assert result.returncode == 0 and "warning: --limit pattern 'nobody@*' matches no user" in result.stderr
    assert _tree(out) == before


# 14. check-servers is bounded

def test_check_servers_options_are_checked(tmp_path):
    result = run_cli("check-servers", str(EXAMPLES), "--timeout", "inf")
    assert result.returncode == 2 and "--timeout must be a finite number" in result.stderr
    result = run_cli("check-servers", str(EXAMPLES), "--timeout", "0")
    assert result.returncode == 2
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    result = run_cli("check-servers", str(EXAMPLES), "--ca-file", str(bad))
    assert result.returncode == 1 and "not a readable file of PEM certificates" in result.stderr
    assert "Traceback" not in result.stderr


# 15. a fresh machine: the distribution's python3 refuses pip, install.sh does not need it to

@pytest.mark.skipif(not Path("/usr/lib/python3/dist-packages").is_dir() or not Path("/usr/bin/python3").exists(),
                    reason="not a Debian or Ubuntu machine")
def test_install_script_works_with_an_externally_managed_python(tmp_path):
    system = "/usr/bin/python3"
    marker = subprocess.run([system, "-c", "import sysconfig, os; print(os.path.exists(os.path.join("
                             "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if marker == "True":
        refused = subprocess.run([system, "-m", "pip", "install", "--dry-run", str(ROOT)], capture_output=True,
                                 text=True)
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr + refused.stdout
    env = dict(os.environ, PYTHON=system, MAILPROFILES_VENV=str(tmp_path / "venv"))
    installed = subprocess.run(["sh", str(ROOT / "install.sh")], env=env, capture_output=True, text=True,
                               timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    out = tmp_path / "out"
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "mailprofiles"), "generate", str(EXAMPLES), "-o", str(out)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (out / "manifest.json").exists()
    with pytest.raises(OutputError):
        generate(EXAMPLES, out / "manifest.json")


def test_ctrl_c_before_the_commit_point_leaves_out_intact(site, write_inventory, tmp_path):
    """A real SIGINT while a large run renders: exit 130, the message says the output is intact, and it is."""
    import signal
    import time

    from conftest import INSTALLED

    folder, out, _ = site
    many = "".join(f"  - {{email: u{i}@example.com, devices: [desktop, laptop, phone]}}\n" for i in range(3000))
    write_inventory((BASE + USERS + many).replace("smtp.example.com", "smtp2.example.com"))
    before = _tree(out)
    env = dict(os.environ)
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    # A shell without job control starts background commands with Ctrl-C ignored, and Python keeps it
    # ignored: the run gets the default disposition back, as from a terminal.
    process = subprocess.Popen([sys.executable, "-m", "generator", "generate", str(folder), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (out / ".mailprofiles" / "staging").exists() and time.monotonic() < deadline:
        time.sleep(0.02)                     # staging has begun: rendering is under way, the journal is not written
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted before anything was written: any earlier output is intact" in stderr
    assert "Traceback" not in stderr
    assert _tree(out) == before
