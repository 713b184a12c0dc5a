"""The release: one version, written once, named by the changelog's latest release and the README's hook snippet."""
from __future__ import annotations

import re

import yaml
from conftest import ROOT

from generator import __version__


def test_the_version_is_the_changelogs_latest_release_and_the_readmes_tag():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    releases = [h for h in headings if h != "Unreleased"]
    assert headings[0] in ("Unreleased", releases[0]) and releases
    assert re.fullmatch(rf"{re.escape(__version__)} \(\d{{4}}-\d{{2}}-\d{{2}}\)", releases[0]), releases[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"^\s*rev: (\S+)$", readme, re.MULTILINE) == [f"v{__version__}"]


def test_the_readmes_hook_snippet_names_the_hook_that_is_published():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"hooks: \[\{id: ([\w-]+)\}\]", readme)
    assert named and set(named) <= {hook["id"] for hook in hooks}
    (hook,) = hooks
    assert hook["always_run"] is True and hook["pass_filenames"] is False
    assert hook["entry"] == "mailprofiles validate --recursive ."
