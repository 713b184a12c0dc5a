"""``--shard K/N``: N runs, each into its own folder, make exactly the files of one unsharded run."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import BASE, ROOT, replace_format

from generator import generate, validate
from generator.errors import UsageError
from generator.plan.shard import Shard, parse_shard, shard_of

USERS = 60


def _shared(path: str) -> bool:
    """A file made from every user (a domain's autoconfig, ...): not in a user's folder (an address)."""
    return "@" not in path.split("/")[0]


def _roster(folder: Path, users: int = USERS, rename: int | None = None, drop: int | None = None) -> Path:
    """Two domains, a group with its own SMTP server, three devices a user: every scope and some warnings."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(
        BASE + "groups:\n  sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls}}}\n"
        "users_file: users.csv\n", encoding="utf-8")
    rows = "".join(f"User{i}@{'example.com' if i % 4 else 'example.org'},{'Renamed' if i == rename else 'User'} {i},"
                   f"{'sales' if i % 3 == 0 else ''},desktop;laptop;phone\n" for i in range(users) if i != drop)
    (folder / "users.csv").write_text("email,name,groups,devices\n" + rows, encoding="utf-8")
    return folder


def _files(out: Path) -> dict[str, bytes]:
    """The files a run made, without its manifest and state."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".mailprofiles" not in p.parts and p.relative_to(out).as_posix() != "manifest.json"}


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_ino) for p in [out, *out.rglob("*")]}


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _shards(inventory: Path, root: Path, count: int, **options) -> list[Path]:
    folders = [root / f"shard-{index}" for index in range(count)]
    for index, folder in enumerate(folders):
        generate(inventory, folder, shard=f"{index}/{count}", jobs=1, **options)
    return folders


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory) -> tuple[Path, Path]:
    """An inventory of USERS users, and its unsharded run's folder."""
    root = tmp_path_factory.mktemp("unsharded")
    inventory = _roster(root / "inv")
    generate(inventory, root / "full", jobs=1)
    return inventory, root / "full"


@pytest.mark.parametrize("count", [1, 3, 7])
def test_the_union_of_the_shards_is_the_unsharded_run_byte_for_byte(tmp_path, unsharded, count):
    inventory, full = unsharded
    whole = _files(full)
    assert "autoconfig/example.org/mail/config-v1.1.xml" in whole and "user0@example.org/handout.html" in whole
    assert len({path.split("/")[0] for path in whole if not _shared(path)}) == USERS
    folders = _shards(inventory, tmp_path / "shards", count)
    union: dict[str, bytes] = {}
    entries, warnings = [], []
    for index, folder in enumerate(folders):
        made = _files(folder)
        assert not union.keys() & made.keys(), "a file is made by one shard only"
        union.update(made)
        shared = {path for path in made if _shared(path)}
        assert shared == ({p for p in whole if _shared(p)} if index == 0 else set())
        users = {path.split("/")[0] for path in made if not _shared(path)}
        assert all(shard_of(user, count) == index for user in users)
        assert (folder / ".mailprofiles" / "shard").read_text(encoding="ascii") == f"{index}/{count}\n"
        manifest = _manifest(folder)
        assert [entry["path"] for entry in manifest["artifacts"]] == sorted(made)    # its own files, no others
        entries.extend(manifest["artifacts"])
        warnings.extend(manifest["warnings"])
    assert union == whole
    if count == 7:
        assert all(_files(folder) for folder in folders), "60 users fill every one of 7 shards"
    expected = _manifest(full)
    assert sorted(entries, key=lambda e: e["path"]) == expected["artifacts"]
    # Each shard lists its own users' warnings, shard 0 also those that name no user: together, the run's.
    assert Counter(json.dumps(w, sort_keys=True) for w in warnings) == \
        Counter(json.dumps(w, sort_keys=True) for w in expected["warnings"])
    assert any(w["user"] is None for w in expected["warnings"]) and any(w["user"] for w in expected["warnings"])


def test_the_shard_of_an_address_is_a_stable_hash_of_it_casefolded():
    # sha256("user1@example.com") starts with bytes that give these shards on any machine and Python version.
    assert [shard_of("user1@example.com", n) for n in (1, 2, 3, 7, 100)] == \
        [shard_of("USER1@Example.COM", n) for n in (1, 2, 3, 7, 100)]
    assert shard_of("user1@example.com", 1) == 0
    import hashlib

    digest = hashlib.sha256(b"user1@example.com").digest()
    assert shard_of("User1@Example.com", 7) == int.from_bytes(digest[:8], "big") % 7
    assert Shard(2, 7).has("user1@example.com") == (int.from_bytes(digest[:8], "big") % 7 == 2)
    counts = Counter(shard_of(f"user{i}@example.com", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 900      # spread evenly


@pytest.mark.parametrize(("text", "message"), [
    ("x", "is not K/N"), ("", "is not K/N"), ("1", "is not K/N"), ("1/3/4", "is not K/N"), ("-1/3", "is not K/N"),
    ("1.0/3", "is not K/N"), ("3/3", "counts from 0, so it must be below N (0 to 2)"), ("7/3", "below N"),
    ("0/0", "must be from 1 to 100,000"), ("0/1000000", "is not K/N"), ("0/200000", "must be from 1 to 100,000"),
])
def test_a_wrong_shard_is_a_usage_error_that_says_what_is_wanted(text, message):
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    assert message in str(caught.value) and f"--shard {text!r}" in str(caught.value)
    assert caught.value.exit_code == 2
    assert parse_shard(" 2 / 3 ") == Shard(2, 3) and parse_shard("0/1") == Shard(0, 1) and parse_shard(None) is None


def test_the_command_refuses_a_wrong_shard_with_exit_2_before_reading_anything(cli, tmp_path):
    result = cli("generate", str(tmp_path / "missing"), "-o", str(tmp_path / "out"), "--shard", "4/4", "--check")
    assert result.returncode == 2, result.stderr
    assert "--shard '4/4': the shard number K counts from 0, so it must be below N (0 to 3)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
    inventory = _roster(tmp_path / "inv", users=6)
    ok = cli("generate", str(inventory), "-o", str(tmp_path / "out"), "--shard", "0/2", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["created"] == len(_files(tmp_path / "out")) > 0


def test_a_rerun_of_a_shard_changes_nothing_and_check_says_so(tmp_path):
    inventory = _roster(tmp_path / "inv", users=24)
    folders = _shards(inventory, tmp_path / "shards", 3)
    before = {folder: _stamps(folder) for folder in folders}
    for index, folder in enumerate(folders):
        again = generate(inventory, folder, shard=f"{index}/3", jobs=1)
        assert not again.changes and not again.manifest_changed and again.count("unchanged") == len(_files(folder))
        check = generate(inventory, folder, shard=f"{index}/3", check=True, jobs=1)
        assert not check.changes and not check.manifest_changed and check.check
    assert {folder: _stamps(folder) for folder in folders} == before
    # One user changes: only that user's shard has anything to do.
    _roster(inventory, users=24, rename=5)
    home = shard_of("User5@example.com", 3)
    changed_at_home: list[str] = []
    for index, folder in enumerate(folders):
        check = generate(inventory, folder, shard=f"{index}/3", check=True, jobs=1)
        if index == home:
            changed_at_home = sorted(c.path for c in check.changes)
            # The loader lower-cases addresses; the name is in the handout and in most device files.
            assert {c.path for c in check.changes} <= {p for p in _files(folder) if p.startswith("user5@example.com/")}
            assert "user5@example.com/handout.html" in {c.path for c in check.changes}
            assert all(c.status == "changed" for c in check.changes)
        else:
            assert not check.changes and not check.manifest_changed
    assert {folder: _stamps(folder) for folder in folders} == before     # --check wrote nothing
    result = generate(inventory, folders[home], shard=f"{home}/3", jobs=1)
    assert sorted(c.path for c in result.changes) == changed_at_home
    assert b"Renamed 5" in (folders[home] / "user5@example.com/handout.html").read_bytes()


def test_a_shard_removes_only_its_own_stale_files(tmp_path):
    inventory = _roster(tmp_path / "inv", users=24)
    folders = _shards(inventory, tmp_path / "shards", 3)
    home = shard_of("User8@example.org", 3)
    gone = {path for path in _files(folders[home]) if path.startswith("user8@example.org/")}
    assert "user8@example.org/handout.html" in gone and "user8@example.org/phone/mail.mobileconfig" in gone
    _roster(inventory, users=24, drop=8)
    before = {folder: _stamps(folder) for folder in folders}
    for index, folder in enumerate(folders):
        result = generate(inventory, folder, shard=f"{index}/3", jobs=1)
        if index == home:
            assert {c.path for c in result.changes} == gone and {c.status for c in result.changes} == {"removed"}
        else:
            assert not result.changes and _stamps(folder) == before[folder]
    assert not (folders[home] / "user8@example.org").exists()


def test_a_folder_of_another_shard_is_refused_and_left_as_it_is(tmp_path):
    inventory = _roster(tmp_path / "inv", users=12)
    folders = _shards(inventory, tmp_path / "shards", 3)
    unsharded = tmp_path / "full"
    generate(inventory, unsharded, jobs=1)
    before = {folder: _stamps(folder) for folder in [*folders, unsharded]}
    for folder, shard, held in [(folders[0], "1/3", "shard 0/3's output"), (folders[1], "1/4", "shard 1/3's output"),
                                (folders[2], None, "shard 2/3's output"),
                                (unsharded, "0/3", "the output of a run without --shard")]:
        for check in (False, True):
            with pytest.raises(UsageError, match="would remove those files as stale, so it is refused") as caught:
                generate(inventory, folder, shard=shard, check=check, jobs=1)
            assert f"{folder} holds {held}" in str(caught.value)
            assert "run each shard into a new folder" in str(caught.value)
    assert {folder: _stamps(folder) for folder in [*folders, unsharded]} == before


def test_a_folder_that_holds_no_files_yet_takes_any_shard_and_a_failed_run_leaves_no_trace(tmp_path):
    inventory = _roster(tmp_path / "inv", users=6)
    out = tmp_path / "out"
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "inventory.yaml").write_text("organization: [\n", encoding="utf-8")
    from generator.errors import InventoryError

    with pytest.raises(InventoryError):
        generate(tmp_path / "broken", out, shard="1/3")
    assert not out.exists()
    first = _roster(tmp_path / "inv2", users=1)   # one user, in one shard: every other shard has no file
    empty = next(i for i in range(3) if shard_of("User0@example.org", 3) != i and i != 0)
    generate(first, out, shard=f"{empty}/3", jobs=1)
    assert _files(out) == {} and _manifest(out)["artifacts"] == []
    generate(inventory, out, shard="0/2", jobs=1)     # nothing was written: the folder changes hands
    assert (out / ".mailprofiles" / "shard").read_text(encoding="ascii") == "0/2\n"
    assert _files(out)


def test_a_sharded_run_that_fails_leaves_no_trace_and_no_claim(tmp_path, monkeypatch):
    from generator import VerificationError
    from generator.formats.registry import named

    inventory = _roster(tmp_path / "inv", users=6)
    real = named("thunderbird").render
    replace_format(monkeypatch, "thunderbird",
                   render=lambda site, device: real(site, device).replace(b", 995)", b", \"995\")"))
    new, empty = tmp_path / "new", tmp_path / "empty"
    empty.mkdir()
    for out in (new, empty):
        with pytest.raises(VerificationError):
            generate(inventory, out, shard="1/2", jobs=1)      # all six users are in shard 1 of 2
    assert not new.exists() and list(empty.iterdir()) == []
    monkeypatch.undo()
    generate(inventory, empty, shard="0/2", jobs=1)      # the folder was never claimed by shard 1
    assert (empty / ".mailprofiles" / "shard").read_text(encoding="ascii") == "0/2\n"
    assert {"autoconfig/example.com/mail/config-v1.1.xml", "autoconfig/example.org/mail/config-v1.1.xml"} <= \
        set(_files(empty)) and all(_shared(path) for path in _files(empty))


def test_fleet_shares_a_sharded_folder(tmp_path):
    from generator.pipeline import fleet

    inventory = _roster(tmp_path / "inv", users=6)
    out = tmp_path / "out"
    generate(inventory, out, shard="1/2", jobs=1)
    made = _files(out)
    assert fleet(inventory, out, "jamf-pro", jobs=1).changes
    again = generate(inventory, out, shard="1/2", jobs=1)
    assert not again.changes and {p: b for p, b in _files(out).items() if p in made} == made
    assert any(path.startswith("fleet/") for path in _files(out))


def test_limit_and_shard_select_the_users_both_select(tmp_path):
    inventory = _roster(tmp_path / "inv", users=24)
    for index in range(3):
        out = tmp_path / f"limited-{index}"
        result = generate(inventory, out, shard=f"{index}/3", limit="@sales", jobs=1)
        users = {path.split("/")[0] for path in _files(out)}
        wanted = {f"user{i}@{'example.com' if i % 4 else 'example.org'}" for i in range(0, 24, 3)}
        assert users == {u for u in wanted if shard_of(u, 3) == index} and users
        assert not any(_shared(path) for path in _files(out))   # --limit: no files made from every user
        assert not result.alerts


def test_the_kubernetes_indexed_job_is_a_valid_manifest_for_every_shard(tmp_path):
    import kubernetes_validate

    documents = list(yaml.safe_load_all((ROOT / "examples/kubernetes/mailprofiles-job.yaml").read_text(encoding="utf-8")))
    for document in documents:
        kubernetes_validate.validate(document, "1.30", strict=True)      # Kubernetes' own schemas, no extra fields
    kinds = {(d["apiVersion"], d["kind"]): d for d in documents}
    assert set(kinds) == {("v1", "ConfigMap"), ("batch/v1", "Job")}
    job = kinds["batch/v1", "Job"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"] >= 2
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    script = " ".join(container["command"] + container.get("args", []))
    assert '--shard "$JOB_COMPLETION_INDEX/' + str(job["completions"]) + '"' in script
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[next(n for n in mounts if "configMap" in volumes[n])]["configMap"]["name"] == \
        kinds["v1", "ConfigMap"]["metadata"]["name"]
    assert any("persistentVolumeClaim" in v for v in volumes.values())
    folder = tmp_path / "inventory"          # the ConfigMap's files: a valid inventory
    folder.mkdir()
    for name, text in kinds["v1", "ConfigMap"]["data"].items():
        (folder / name).write_text(text, encoding="utf-8")
    checked = validate(folder)
    assert checked.valid, [d.format() for d in checked.errors]
    assert len({d.user.email.split("@")[1] for d in checked.inventory.devices}) == 2
