"""Site templates under hostile conditions: bounded in time and output, confined reads, every error an input error,
and every file a site template reads in the files' fingerprints."""
from __future__ import annotations

import os
import time

import pytest
from conftest import BASE, ROOT, run_cli

from generator import InventoryError, Limits, generate, load_inventory
from generator.formats import engine

USERS = "users:\n  - {email: a@example.com, name: Anna, devices: [desktop]}\n"
PREFS = (ROOT / "templates" / "thunderbird" / "prefs.js.j2").read_text(encoding="utf-8")
HANDOUT_EN = (ROOT / "templates" / "handout" / "lang" / "en.j2").read_text(encoding="utf-8")
SECRET = "SIGNING-KEY-0123456789"


def _site(write_inventory, files: dict[str, str], users: str = USERS):
    folder = write_inventory(BASE + "templates_dir: site\n" + users)
    (folder / "site").mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "site" / name).write_text(text, encoding="utf-8")
    return folder


def _files(out):
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} if out.exists() else {}


def _refused(folder, out, *args):
    """Generate into ``out`` (which holds an earlier run's output, or nothing): exit 1, OUT untouched."""
    before = _files(out)
    result = run_cli("generate", str(folder), "-o", str(out), *args)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert _files(out) == before
    return result.stderr


def _refused_here(folder, out) -> str:
    """Generate in this process: refused as bad input (exit 1), nothing written; the problems as listed."""
    with pytest.raises(InventoryError) as caught:
        generate(folder, out)
    assert caught.value.exit_code == 1 and not out.exists()
    return str(caught.value)


def _rerun(folder, out):
    """Generate again, once the index is older than the files (a file not older than the index is compared by its
    bytes: same clock tick), so that only what the fingerprints call changed is rendered."""
    index = out / ".mailprofiles" / "index"
    later = index.stat().st_mtime + 5
    os.utime(index, (later, later))
    return generate(folder, out)


def _prefs_with(extra: str) -> str:
    """The built-in prefs.js template with ``extra`` on a line of its own, first: line 1."""
    return extra + "\n" + PREFS


# -- 2: bounded in time and output ------------------------------------------------------------------------------


def test_a_site_template_that_runs_too_long_is_stopped(write_inventory, tmp_path):
    out = tmp_path / "out"
    folder = _site(write_inventory, {})
    generate(folder, out)
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    _site(write_inventory, {"thunderbird/prefs.js.j2": "\n" + _prefs_with(loop)})
    started = time.monotonic()
    stderr = _refused(folder, out)
    assert time.monotonic() - started < 60
    template = folder.resolve() / "site/thunderbird/prefs.js.j2"
    assert f"{template}:2:1: template error" in stderr
    assert f"ran for more than {engine.SITE_CPU_SECONDS:g} s of CPU time" in stderr


def test_the_time_cap_holds_in_worker_processes(write_inventory, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "SITE_CPU_SECONDS", 0.3)
    users = "users:\n" + "".join(f"  - {{email: u{i:03}@example.com, devices: [desktop]}}\n" for i in range(300))
    slow = '{% if user.email == "u290@example.com" %}{% for i in range(100000) %}{% for j in range(100000) %}' \
           '{% endfor %}{% endfor %}{% endif %}\n'
    handout = (ROOT / "templates/handout/handout.html.j2").read_text(encoding="utf-8")
    folder = _site(write_inventory, {"handout/handout.html.j2": slow + handout}, users)
    main = os.getpid()
    with pytest.raises(InventoryError) as caught:
        generate(folder, tmp_path / "out", jobs=2)
    assert os.getpid() == main
    first, *others = caught.value.diagnostics
    assert first.format() == f"{folder.resolve() / 'site/handout/handout.html.j2'}:1:1: template error while " \
        "making u290@example.com/handout.html: SiteTemplateError: the template ran for more than 0.3 s of CPU time " \
        "(fix the site template)"
    # the other users of the same worker are not made to wait for the same template again
    for diagnostic in others:
        assert diagnostic.message.endswith("not rendered: the template ran for more than 0.3 s of CPU time making "
                                           "an earlier file"), diagnostic.message
        assert diagnostic.message.split()[4] > "u290@example.com/handout.html:", diagnostic.message
    assert not (tmp_path / "out").exists()


def test_a_site_template_with_too_much_output_is_refused(write_inventory, tmp_path):
    out = tmp_path / "out"
    template = "site/thunderbird/prefs.js.j2"
    for extra in ('{% for i in range(100000) %}{{ "x" * 1000 }}{% endfor %}',
                  '{{ "x" * 1000000000 }}', '{{ "x" + "y" * 10000000 }}', '{{ 10 ** (10 ** 10) }}',
                  '{% set ns = namespace(n=10) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}',
                  '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
                  '{{ "x"|center(2000000000) }}'):
        folder = _site(write_inventory, {"thunderbird/prefs.js.j2": _prefs_with(extra)})
        started = time.monotonic()
        stderr = _refused(folder, out)
        assert time.monotonic() - started < 30, extra
        assert f"{folder.resolve() / template}:" in stderr and "template error" in stderr, (extra, stderr)
        assert "more than" in stderr or "MemoryError" in stderr, (extra, stderr)


def test_the_built_in_templates_are_not_bounded(write_inventory, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "SITE_CPU_SECONDS", 0.0)
    monkeypatch.setattr(engine, "SITE_OUTPUT_CHARS", 1)
    folder = write_inventory(BASE + USERS)
    assert generate(folder, tmp_path / "out").rendered == 8      # 5 device files, the handout, 2 domain files


# -- 3: every read through the site folder is confined -------------------------------------------------------------


@pytest.mark.parametrize("statement", ['{% include "leak.j2" %}', '{% import "leak.j2" as leak %}',
                                       '{% from "leak.j2" import x %}', '{% extends "leak.j2" %}'])
def test_a_link_leading_out_of_the_inventory_folder_is_refused(write_inventory, tmp_path, statement):
    secret = tmp_path / "keys" / "signing.key"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n{% macro x() %}{% endmacro %}\n", encoding="utf-8")
    folder = _site(write_inventory, {"thunderbird/prefs.js.j2": _prefs_with(statement)})
    (folder / "site/thunderbird/leak.j2").symlink_to(secret)
    out = tmp_path / "out"
    stderr = _refused(folder, out)
    link = folder.resolve() / "site/thunderbird/leak.j2"
    assert f"{link}: templates_dir: the link leak.j2 leads outside the inventory's folder" in stderr, stderr
    assert SECRET not in stderr
    # allowed explicitly, the same link is read
    result = run_cli("generate", str(folder), "-o", str(out), "--allow-path", str(secret.parent))
    assert result.returncode in (0, 1) and "leads outside" not in result.stderr, result.stderr


def test_a_link_in_the_site_is_refused_even_when_no_template_reads_it(write_inventory, tmp_path):
    folder = _site(write_inventory, {"README": "notes"})
    (folder / "site/notes.j2").symlink_to("/etc/passwd")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1
    assert f"{folder.resolve() / 'site/notes.j2'}: templates_dir: the link notes.j2 leads outside the inventory's " \
           "folder" in result.stderr, result.stderr
    assert "root:" not in result.stderr
    with pytest.raises(InventoryError):
        load_inventory(folder)


def test_an_override_that_is_a_link_out_is_refused(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "site/thunderbird").mkdir()
    (folder / "site/thunderbird/prefs.js.j2").symlink_to("/etc/passwd")
    stderr = _refused(folder, tmp_path / "out")
    assert "prefs.js.j2 leads outside the inventory's folder" in stderr and "root:" not in stderr


def test_a_linked_folder_in_the_site_is_confined_too(write_inventory, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "thunderbird").mkdir(parents=True)
    (outside / "thunderbird/prefs.js.j2").write_text(PREFS, encoding="utf-8")
    folder = _site(write_inventory, {})
    (folder / "site/thunderbird").symlink_to(outside / "thunderbird")
    stderr = _refused(folder, tmp_path / "out")
    assert "the link thunderbird leads outside the inventory's folder" in stderr


def test_links_within_the_inventory_folder_are_followed(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "shared").mkdir()
    (folder / "shared/extra.j2").write_text('user_pref("mail.shared", true);\n', encoding="utf-8")
    (folder / "site/thunderbird").mkdir()
    (folder / "site/thunderbird/extra.j2").symlink_to(folder / "shared/extra.j2")
    (folder / "site/thunderbird/prefs.js.j2").write_text(PREFS + '{% include "extra.j2" %}', encoding="utf-8")
    out = tmp_path / "out"
    generate(folder, out)
    assert b'user_pref("mail.shared", true);' in (out / "a@example.com/desktop/prefs.js").read_bytes()


def test_a_templates_dir_that_is_a_link_within_the_inventory_folder_works(write_inventory, tmp_path):
    folder = write_inventory(BASE + "templates_dir: site\n" + USERS)
    (folder / "real-site/thunderbird").mkdir(parents=True)
    (folder / "real-site/thunderbird/prefs.js.j2").write_text(PREFS + "// site\n", encoding="utf-8")
    (folder / "site").symlink_to(folder / "real-site")
    out = tmp_path / "out"
    generate(folder, out)
    assert (out / "a@example.com/desktop/prefs.js").read_bytes().endswith(b"// site\n")
    (folder / "site").unlink()
    (tmp_path / "outside-site").mkdir()
    (folder / "site").symlink_to(tmp_path / "outside-site")
    result = run_cli("validate", str(folder))
    assert result.returncode == 1 and "templates_dir 'site' leads outside the inventory's folder" in result.stderr


# -- 6: fingerprints hold what is read ------------------------------------------------------------------------------


def test_a_site_template_that_is_a_link_is_fingerprinted_by_content(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    target = folder / "shared-en.j2"
    target.write_text(HANDOUT_EN, encoding="utf-8")
    (folder / "site/handout/lang").mkdir(parents=True)
    (folder / "site/handout/lang/en.j2").symlink_to(target)
    out = tmp_path / "out"
    generate(folder, out)
    assert b"Version two" not in (out / "a@example.com/handout.html").read_bytes()
    assert _rerun(folder, out).rendered == 2        # the domain's files are always made; the rest is up to date
    target.write_text(HANDOUT_EN.replace('{% set title = "Your mail setup" %}', '{% set title = "Version two" %}'),
                      encoding="utf-8")
    assert [c.path for c in _rerun(folder, out).changes] == ["a@example.com/handout.html"]
    assert b"Version two" in (out / "a@example.com/handout.html").read_bytes()


def test_templates_reached_by_include_import_and_extends_are_fingerprinted(write_inventory, tmp_path):
    folder = _site(write_inventory, {
        "thunderbird/prefs.js.j2": '{% extends "base.j2" %}',
        "thunderbird/base.j2": '{% import "macros.j2" as m %}' + PREFS + '{% include "part.j2" %}{{ m.extra() }}',
        "thunderbird/macros.j2": '{% macro extra() %}// one\n{% endmacro %}',
        "thunderbird/part.j2": "// part one\n",
    })
    out = tmp_path / "out"
    generate(folder, out)
    for name, old, new in (("base.j2", "{{ m.extra() }}", "{{ m.extra() }}// base two\n"),
                           ("macros.j2", "// one", "// two"), ("part.j2", "part one", "part two")):
        path = folder / "site/thunderbird" / name
        path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        assert [c.path for c in _rerun(folder, out).changes] == ["a@example.com/desktop/prefs.js"], name
        assert new.replace("{{ m.extra() }}", "").encode() in (out / "a@example.com/desktop/prefs.js").read_bytes()


def test_a_linked_folder_in_the_site_is_fingerprinted_by_content(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "shared/lang").mkdir(parents=True)
    (folder / "shared/lang/en.j2").write_text(HANDOUT_EN, encoding="utf-8")
    (folder / "site/handout").mkdir()
    (folder / "site/handout/lang").symlink_to(folder / "shared/lang")
    out = tmp_path / "out"
    generate(folder, out)
    (folder / "shared/lang/en.j2").write_text(HANDOUT_EN.replace("Your mail setup", "Linked"), encoding="utf-8")
    assert [c.path for c in _rerun(folder, out).changes] == ["a@example.com/handout.html"]


# -- 13: every site template error is an input error, at its file and line ------------------------------------------


@pytest.mark.parametrize(("extra", "kind"), [
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ("{{ range(1000000)|list }}", "OverflowError"),
    ('{{ "{0.__class__}".format(1) }}', "SecurityError"),
    ('{{ "%s %s" % 1 }}', "TypeError"),
    ('{{ "%d" % "x" }}', "TypeError"),
    ("{{ no_such_name }}", "UndefinedError"),
    ("{{ user.nothing.more }}", "UndefinedError"),
    ("{{ ''.__class__.__mro__ }}", "SecurityError"),
    ("{{ (10 ** 5000)|string }}", "ValueError"),
    ('{{ [1, 2][5] }}', "UndefinedError"),
    ('{{ {}|dictsort(by="nothing") }}', "FilterArgumentError"),
    ('{{ "{:d}".format("x") }}', "ValueError"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError"),
    ('{% include "nothing.j2" %}', "TemplateNotFound"),
    ('{% include "../../../inventory.yaml" %}', "TemplateNotFound"),
    ('{% include "/etc/passwd" %}', "TemplateNotFound"),
    ('{{ lipsum(1000000000) }}', "CPU time"),
])
def test_site_template_errors_name_the_file_and_line(write_inventory, tmp_path, monkeypatch, extra, kind):
    monkeypatch.setattr(engine, "SITE_CPU_SECONDS", 0.5)
    folder = _site(write_inventory, {"thunderbird/prefs.js.j2": "\n\n" + _prefs_with(extra)})
    stderr = _refused_here(folder, tmp_path / "out")
    template = folder.resolve() / "site/thunderbird/prefs.js.j2"
    assert f"{template}:3:1: template error while making a@example.com desktop thunderbird:" in stderr, stderr
    assert kind in stderr


@pytest.mark.parametrize("statement", ['{% import "prefs.js.j2" as x %}', '{% include "prefs.js.j2" %}',
                                       '{% extends "prefs.js.j2" %}'])
def test_a_template_that_reaches_itself_is_refused(write_inventory, tmp_path, statement):
    folder = _site(write_inventory, {"thunderbird/prefs.js.j2": "\n" + _prefs_with(statement)})
    stderr = _refused_here(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/thunderbird/prefs.js.j2'}:2:1: template error" in stderr, stderr


def test_an_error_in_a_site_macro_file_is_reported_there(write_inventory, tmp_path):
    heading = "{% macro device_heading(name, profile) %}"       # called for every device
    assert heading in HANDOUT_EN
    broken = HANDOUT_EN.replace(heading, heading + "{{ 1 // 0 }}", 1)
    line = broken[:broken.index("{{ 1 // 0 }}")].count("\n") + 1
    folder = _site(write_inventory, {"handout/lang/en.j2": broken})
    stderr = _refused(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/handout/lang/en.j2'}:{line}:1: template error while making " \
           "a@example.com/handout.html: SiteTemplateError: ZeroDivisionError" in stderr, stderr
    assert "handout.html.j2" not in stderr


def test_an_included_site_template_error_is_reported_at_the_included_file(write_inventory, tmp_path):
    folder = _site(write_inventory, {"thunderbird/prefs.js.j2": _prefs_with('{% include "part.j2" %}'),
                                     "thunderbird/part.j2": "\n\n\n{{ nothing }}\n"})
    stderr = _refused(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/thunderbird/part.j2'}:4:1: template error" in stderr, stderr


def test_a_huge_file_in_the_site_is_an_input_limit_error(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    big = folder / "site/thunderbird/prefs.js.j2"
    big.parent.mkdir()
    with open(big, "wb") as handle:
        handle.truncate(70 * 1024 * 1024)           # sparse: 70 MB without using the disk
    for command in (("validate", str(folder)), ("generate", str(folder), "-o", str(tmp_path / "out"))):
        result = run_cli(*command)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"{big.resolve()}: templates_dir: prefs.js.j2 is 73,400,320 bytes (the limit is 1,048,576 bytes)" \
            in result.stderr, result.stderr


def test_the_site_as_a_whole_is_bounded(write_inventory):
    folder = _site(write_inventory, {f"part{i}.j2": "x" * 1000 for i in range(4)})
    load_inventory(folder)
    with pytest.raises(InventoryError) as caught:
        load_inventory(folder, Limits(max_site_bytes=3000))
    assert f"{folder.resolve() / 'site'}: templates_dir: the site's templates hold more than 3,000 bytes" \
        in str(caught.value)
    (folder / "site/part0.j2").unlink()
    load_inventory(folder, Limits(max_site_bytes=3000))
    for i in range(10):
        (folder / "site" / f"empty{i}").mkdir()
    with pytest.raises(InventoryError) as caught:
        load_inventory(folder, Limits(max_site_files=10))
    assert "the site's templates hold more than 10 files and folders" in str(caught.value)


def test_a_template_that_is_a_directory_or_a_fifo_is_refused(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "site/thunderbird/prefs.js.j2").mkdir(parents=True)
    (folder / "site/thunderbird/prefs.js.j2/x").write_text("x", encoding="utf-8")
    stderr = _refused(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/thunderbird/prefs.js.j2'}: template error" in stderr
    assert "prefs.js.j2 is a folder, not a regular file" in stderr
    (folder / "site/thunderbird/prefs.js.j2/x").unlink()
    (folder / "site/thunderbird/prefs.js.j2").rmdir()
    os.mkfifo(folder / "site/thunderbird/prefs.js.j2")
    started = time.monotonic()
    result = run_cli("validate", str(folder), timeout=30)
    assert time.monotonic() - started < 30
    assert result.returncode == 1 and "prefs.js.j2 is a FIFO, not a regular file" in result.stderr, result.stderr


def test_a_template_that_is_not_utf8_is_refused_without_quoting_it(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "site/thunderbird").mkdir()
    (folder / "site/thunderbird/prefs.js.j2").write_bytes(SECRET.encode() + b" \xfc " + PREFS.encode())
    stderr = _refused(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/thunderbird/prefs.js.j2'}:1:1: template error" in stderr, stderr
    assert "prefs.js.j2 is not valid UTF-8 (byte 0xfc at column 24;" in stderr and SECRET not in stderr
    (folder / "site/thunderbird/prefs.js.j2").write_bytes(b"\n\0" + PREFS.encode())
    stderr = _refused(folder, tmp_path / "out")
    assert f"{folder.resolve() / 'site/thunderbird/prefs.js.j2'}:2:1: template error" in stderr
    assert "NUL byte" in stderr


def test_a_dangling_link_is_refused_not_skipped(write_inventory, tmp_path):
    folder = _site(write_inventory, {})
    (folder / "site/thunderbird").mkdir()
    (folder / "site/thunderbird/prefs.js.j2").symlink_to(folder / "gone.j2")
    stderr = _refused(folder, tmp_path / "out")
    assert "prefs.js.j2 leads to nothing" in stderr, stderr
