"""Loading an inventory loads no renderer: the inventory stage imports neither Jinja2 nor cryptography."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import INSTALLED, ROOT

PROBE = """
import json, sys
import generator.inventory.load as load
inventory = load.load_inventory(sys.argv[1])
heavy = sorted(name for name in ("jinja2", "cryptography", "asn1crypto", "typer", "rich", "defusedxml")
               if name in sys.modules)
renderers = sorted(name for name in sys.modules if name.startswith(("generator.formats.render",
                                                                       "generator.formats.verify",
                                                                       "generator.formats.registry")))
print(json.dumps({"users": len({d.user.email for d in inventory.devices}), "heavy": heavy, "renderers": renderers}))
"""


def test_loading_an_inventory_imports_no_renderer():
    env = dict(os.environ)
    if not INSTALLED:
        env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "examples")], capture_output=True, text=True,
                            env=env, cwd=ROOT / "tests", timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["users"] >= 4
    assert found["heavy"] == [], f"the inventory stage imports {found['heavy']}"
    assert found["renderers"] == []


def test_the_public_names_load_on_first_use():
    import generator

    for name in generator.__all__:
        assert getattr(generator, name) is not None, name
