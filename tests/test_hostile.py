"""Resource abuse and broken bytes: refused quickly, with a clear message and bounded memory."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import BASE

from generator import InventoryError, load_inventory
from generator.paths import UnsafeName, artifact_path, safe_component


def _errors(folder) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(folder)
    return [d.format() for d in info.value.diagnostics]


def test_billion_laughs_is_refused(write_inventory):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    folder = write_inventory(BASE + "\n".join(lines) + "\nusers: []\n")
    messages = _errors(folder)
    assert len(messages) == 1 and "alias bomb" in messages[0]


def test_deep_nesting_is_refused(write_inventory):
    folder = write_inventory(BASE + "settings: " + "[" * 5000 + "]" * 5000 + "\n")
    messages = _errors(folder)
    assert "nesting deeper than 64 levels" in messages[0]


def test_huge_file_is_refused_before_reading(write_inventory):
    folder = write_inventory(BASE)
    with open(folder / "inventory.yaml", "r+b") as handle:
        handle.truncate(1024 ** 3)          # a sparse 1 GiB file
    messages = _errors(folder)
    assert "1,073,741,824 bytes, more than the limit of 33,554,432" in messages[0]


def test_huge_roster_is_refused_before_reading(write_inventory):
    folder = write_inventory(BASE + "users_file: users.csv\n", users__csv="email,devices\n")
    with open(folder / "users.csv", "r+b") as handle:
        handle.truncate(1024 ** 3)
    assert "more than the limit of 268,435,456 bytes" in _errors(folder)[0]


def test_binary_junk_and_non_utf8(write_inventory):
    folder = write_inventory("")
    (folder / "inventory.yaml").write_bytes(b"organization:\n  name: \x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "inventory.yaml:4:1: inventory file contains a NUL byte" in _errors(folder)[0]
    (folder / "inventory.yaml").write_bytes(BASE.encode() + b"users:\n  - {email: a@example.com, name: J\xfcrgen}\n")
    message = _errors(folder)[0]
    assert "inventory.yaml:7:35: inventory file is not valid UTF-8 (byte 0xfc)" in message


def test_control_characters_in_yaml_are_a_syntax_error(write_inventory):
    folder = write_inventory(BASE + "users:\n  - {email: a@example.com, name: \"A\x07B\", devices: [desktop]}\n")
    assert "YAML syntax error" in _errors(folder)[0]


def test_csv_with_a_million_empty_columns(write_inventory):
    folder = write_inventory(BASE + "users_file: users.csv\n")
    (folder / "users.csv").write_text("email,devices" + "," * 1_000_000 + "\n")
    message = _errors(folder)[0]
    assert "users.csv:1:1: line is longer than the limit of 65,536 characters" in message


def test_csv_with_too_many_columns_in_a_short_line(write_inventory):
    folder = write_inventory(BASE + "users_file: users.csv\n")
    (folder / "users.csv").write_text("email" + ",x" * 100 + "\n")
    assert "header has 101 columns, more than the limit of 64" in _errors(folder)[0]


def test_csv_unterminated_quote(write_inventory):
    folder = write_inventory(BASE + "users_file: users.csv\n",
                             users__csv='email,name,devices\na@example.com,"Anna,desktop\n')
    assert "CSV syntax error" in _errors(folder)[0]


def test_memory_stays_bounded_on_abuse(tmp_path):
    """Each attack in a fresh process under a 512 MiB address-space cap: refused with exit 1, never killed."""
    attacks = {
        "bomb.yaml": "a0: &a0 [" + ", ".join(["lol"] * 10) + "]\n" +
                     "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 12)),
        "deep.yaml": "x: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "wide.yaml": "x: [" + ",".join(["1"] * 10) + "]\n" + "y: '" + "z" * 30_000_000 + "'\n",
    }
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 ** 2, 512 * 1024 ** 2))
        from generator.cli.app import main
        sys.argv = ["mailprofiles", "validate", sys.argv[1]]
        main()
    """)
    for name, text in attacks.items():
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
        assert result.returncode == 1, (name, result.stderr[-2000:])
        assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr, name


def test_safe_file_names():
    assert safe_component("..") == "%2E%2E"
    assert safe_component(".hidden") == "%2Ehidden"
    assert safe_component("a/b") == "a%2Fb"
    assert safe_component("C:\\x") == "c%3A%5Cx"
    assert safe_component("CON") == "%63on" and safe_component("com1.txt") == "%63om1.txt"
    assert safe_component("trailing.") == "trailing%2E"
    assert safe_component("Jürgen") == "j%C3%BCrgen"
    assert safe_component("%41") == "%2541"        # '%' itself is encoded: the mapping stays one-to-one
    assert safe_component("Anna") == safe_component("ANNA")
    with pytest.raises(UnsafeName):
        safe_component("ü" * 40)
    assert artifact_path("A@Example.com", "desktop", "prefs.js") == "a@example.com/desktop/prefs.js"


def test_over_long_file_name_is_a_clear_error(write_inventory, tmp_path, cli):
    name = "ü" * 40
    folder = write_inventory(BASE + f"users:\n  - {{email: a@example.com, devices: [{{name: '{name}', profile: phone}}]}}\n")
    result = cli("generate", str(folder), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "cannot make a safe file name" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_internal_error_is_one_paragraph_without_locals(tmp_path, cli):
    # A manifest path that is a file, not a folder, is an input problem (exit 1) ...
    target = tmp_path / "file"
    target.write_text("x")
    from conftest import EXAMPLES
    result = cli("generate", str(EXAMPLES), "-o", str(target))
    assert result.returncode == 1 and "not a directory" in result.stderr
    # ... a bug is exit 3 with one paragraph; --debug shows the traceback, never local variables.
    script = ("import generator.pipeline as p; p.Executor = lambda *a, **k: 1/0; "
              "import sys; sys.argv=['mailprofiles'] + sys.argv[1:]; from generator.cli.app import main; main()")
    plain = subprocess.run([sys.executable, "-c", script, "generate", str(EXAMPLES), "-o", str(tmp_path / "o")],
                           capture_output=True, text=True)
    assert plain.returncode == 3
    assert "internal error: ZeroDivisionError" in plain.stderr and "Traceback" not in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1
    debug = subprocess.run([sys.executable, "-c", script, "--debug", "generate", str(EXAMPLES), "-o",
                            str(tmp_path / "o")], capture_output=True, text=True)
    assert debug.returncode == 3 and "Traceback" in debug.stderr
    assert "locals" not in debug.stderr.lower() and "inventory =" not in debug.stderr


def test_unwritable_output_is_an_input_error(tmp_path, cli):
    from conftest import EXAMPLES

    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("generate", str(EXAMPLES), "-o", str(blocker / "out"))
    assert result.returncode == 1
    assert "cannot write the output at" in result.stderr and "Traceback" not in result.stderr


def test_mutated_inventories_never_crash(tmp_path):
    """Random byte edits of the example: every outcome is a clean error or a verified set of files."""
    import random
    import shutil

    from conftest import EXAMPLES

    from generator import VerificationError, generate

    source = (EXAMPLES / "inventory.yaml").read_bytes()
    roster = (EXAMPLES / "users.csv").read_bytes()
    rnd = random.Random(20261129)
    outcomes = {"rejected": 0, "generated": 0}
    for attempt in range(250):
        folder = tmp_path / f"m{attempt}"
        folder.mkdir()
        data, rows = bytearray(source), bytearray(roster)
        target = data if rnd.random() < 0.7 else rows
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(len(target))
            op = rnd.random()
            if op < 0.3:
                del target[pos:pos + rnd.randint(1, 10)]
            elif op < 0.6:
                target[pos:pos] = bytes(rnd.choice(b":-[]{}&*!|>'\"#,\n \t;@0123456789abz\x00\xff")
                                        for _ in range(rnd.randint(1, 5)))
            else:
                other = rnd.randrange(len(target))
                target[pos], target[other] = target[other], target[pos]
        (folder / "inventory.yaml").write_bytes(data)
        (folder / "users.csv").write_bytes(rows)
        try:
            generate(folder, folder / "out")
            outcomes["generated"] += 1
        except InventoryError as exc:
            assert all(d.location is not None for d in exc.diagnostics)
            outcomes["rejected"] += 1
        except VerificationError as exc:  # pragma: no cover - would be a renderer bug
            raise AssertionError(exc.failures) from None
        shutil.rmtree(folder)
    assert outcomes["rejected"] > 50 and outcomes["generated"] > 5, outcomes
