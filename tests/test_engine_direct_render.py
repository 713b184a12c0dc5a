"""A built-in template is rendered by ``engine._render_built_in``, which makes the template's context itself and runs
its compiled root function: held here to ``jinja2.Template.render`` on every built-in template, for the text of
every file the product's runs make and for the errors a context missing a value or carrying a wrong one raises."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import pytest
from conftest import BASE, EXAMPLES

from generator import generate
from generator.formats import engine
from generator.pipeline import fleet
from generator.resources import data_dir

TEMPLATES = data_dir("templates")
CASES = Path(__file__).resolve().parent / "cases"
# Parts a page imports (its sections, and its wording in each language): rendered through the pages that import them
PARTIALS = {"handout/page.j2", *(p.relative_to(TEMPLATES).as_posix() for p in (TEMPLATES / "handout/lang").glob("*.j2"))}
TOP_LEVEL = {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.j2")} - PARTIALS
# The top-level templates in which a string of the context, replaced by a value of the wrong type, reaches one of the
# product's filters, which refuses it
FILTERED = {"handout/handout.html.j2", "handout/group.html.j2", "outlook/outlook.prf.j2",
            "outlook-autodiscover-reg/autodiscover.reg.j2", "thunderbird-site/mailprofiles.cfg.j2"}
# Every value of the .reg file goes through its filter, which refuses an undefined value itself (a TypeError)
ALL_FILTERED = "outlook-autodiscover-reg/autodiscover.reg.j2"

GROUPS = BASE.replace("identifier: com.example}", "identifier: com.example, group_handouts: true}") + """\
users:
  - {email: a@example.com, name: Anna <&>, groups: [g], devices: [desktop, {name: pad, profile: phone}]}
  - {email: b@example.com, name: Ben, language: de, groups: [g], devices: [laptop]}
  - {email: c@example.com, name: Cem, devices: [phone]}
groups: {g: {}}
"""
# The OAuth2 cases once more with Apple's clients only: a second Exchange and Google profile each
APPLE = "settings: {clients: [apple]}\n"
FLEET = BASE + ('fleet: {login: local-part, address_pattern: "{login}@example.com"}\n'
                "groups:\n  sales:\n    fleet: {login: address, address_pattern: \"{login}@example.com\"}\n")

Sample = tuple[jinja2.Template, dict[str, Any]]


def _name(template: jinja2.Template) -> str:
    assert template.filename is not None
    return Path(template.filename).relative_to(TEMPLATES).as_posix()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Sample]], list[tuple[str, str, str]]]:
    """Every built-in template the product's runs render, with the contexts they render it with, and each file whose
    text differs between the two ways (none, if all is well); one process (``jobs=1``), so the renders are seen."""
    samples: dict[str, list[Sample]] = {}
    differ: list[tuple[str, str, str]] = []
    direct = engine._render_built_in

    def both(template: jinja2.Template, context: dict[str, Any]) -> str:
        text = direct(template, context)
        expected = template.render(context)
        if text != expected:
            differ.append((_name(template), text, expected))
        samples.setdefault(_name(template), []).append((template, dict(context)))
        return text

    work = tmp_path_factory.mktemp("direct")

    def folder(name: str, text: str) -> Path:
        (work / name).mkdir()
        (work / name / "inventory.yaml").write_text(text, encoding="utf-8")
        return work / name

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "_render_built_in", both)
        inventories = [EXAMPLES, *sorted(p for p in (CASES / "valid").iterdir() if p.is_dir()),
                       *sorted(p for p in (CASES / "oauth2").iterdir() if p.is_dir()),
                       folder("groups", GROUPS),
                       *(folder(f"{case}-apple", (CASES / "oauth2" / case / "inventory.yaml").read_text(encoding="utf-8")
                                + APPLE) for case in ("m365", "google"))]
        for number, inventory in enumerate(inventories):
            generate(inventory, work / f"out{number}", jobs=1)
        fleet(folder("fleet", FLEET), work / "fleet-out", "jamf-pro", jobs=1)
    return samples, differ


def test_the_top_level_templates_are_the_folders_files_but_the_partials():
    assert PARTIALS >= {"handout/page.j2", "handout/lang/en.j2", "handout/lang/de.j2"}
    assert len(TOP_LEVEL) >= 12 and FILTERED <= TOP_LEVEL
    assert {"apple/mail.mobileconfig.j2", "apple/exchange.mobileconfig.j2", "apple/google.mobileconfig.j2",
            "thunderbird/prefs.js.j2", "handout/group.html.j2"} <= TOP_LEVEL


def test_every_file_of_every_built_in_template_is_the_text_template_render_makes(made):
    samples, differ = made
    assert not differ, f"{differ[0][0]}: the direct render differs from Template.render"
    assert set(samples) == TOP_LEVEL     # a new template is rendered here before it ships
    assert all(len(found) >= 2 for found in samples.values())
    # the partials are rendered through the pages that import them (every page imports page.j2), each language's
    # wording too
    pages = [context for name in ("handout/handout.html.j2", "handout/group.html.j2") for _, context in samples[name]]
    languages = {context["lang"] for context in pages} | {page["lang"] for context in pages for page in context["pages"]}
    assert {"handout/page.j2", *(f"handout/lang/{language}.j2" for language in languages)} == PARTIALS


# What a built-in template may use besides its context: the environment's globals and a template's own
# (its name, read through ``self``, and its blocks)
USES_GLOBALS = ("{{ range(3)|list }} {% set n = namespace(count=1) %}{{ n.count }} {{ dict(a=own)|list }} {{ own }} "
                "{{ self }} {% block part %}[part]{% endblock %} {{ self.part() }} "
                "{% set comma = joiner(', ') %}{% for item in 'ab' %}{{ comma() }}{{ item }}{% endfor %}")


def test_a_template_using_its_globals_is_the_same_in_each_environment(made):
    for found in made[0].values():
        template, context = found[0]
        env = template.environment
        made_here = env.template_class.from_code(env, env.compile(USES_GLOBALS, "uses-globals.j2"),
                                                 env.make_globals({"own": "<own>"}))
        outcome = _outcome(engine._render_built_in, made_here, context)
        assert outcome == _outcome(_render, made_here, context)
        assert outcome[0] == "text" and outcome[1].startswith("[0, 1, 2] 1 ") and outcome[1].endswith("a, b")
        assert "uses-globals.j2" in outcome[1] and outcome[1].count("[part]") == 2
        assert _outcome(engine._render_built_in, made_here, {}) == outcome
        for data in ({"own": "the context's"}, {"own": jinja2.StrictUndefined(name="own")}):    # the context's wins
            assert _outcome(engine._render_built_in, made_here, data) == _outcome(_render, made_here, data) != outcome


def _outcome(render: Callable[[jinja2.Template, dict[str, Any]], str], template: jinja2.Template,
             context: dict[str, Any]) -> tuple[Any, ...]:
    """The text, or the exception's type, message and innermost template line, and whether one of the product's
    filters raised it."""
    try:
        return ("text", render(template, context))
    except Exception as exc:      # noqa: BLE001 - any exception is an outcome compared between the two ways
        return type(exc), str(exc), engine._innermost(exc.__traceback__), _in_a_filter(template, exc.__traceback__)


def _in_a_filter(template: jinja2.Template, tb: TracebackType | None) -> bool:
    codes = {getattr(f, "__code__", None) for f in template.environment.filters.values()
             if getattr(f, "__module__", "").startswith("generator.")}
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return True
        tb = tb.tb_next
    return False


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    return template.render(context)


def _without(value: Any) -> Iterator[Any]:
    """``value`` with one key of one of its dicts (at any depth, through dicts, lists and tuples) left out."""
    if type(value) is dict:
        for key, item in value.items():
            yield {k: v for k, v in value.items() if k != key}
            for changed in _without(item):
                yield {**value, key: changed}
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            for changed in _without(item):
                yield type(value)([*value[:index], changed, *value[index + 1:]])


def _replaced(value: Any, wrong: object) -> Iterator[Any]:
    """``value`` with one of its strings (at any depth, through dicts, lists and tuples) replaced by ``wrong``."""
    if isinstance(value, str):
        yield wrong
    elif type(value) is dict:
        for key, item in value.items():
            for changed in _replaced(item, wrong):
                yield {**value, key: changed}
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            for changed in _replaced(item, wrong):
                yield type(value)([*value[:index], changed, *value[index + 1:]])


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_a_missing_value_is_the_same_error(made, name):
    template, context = made[0][name][0]
    kinds = set()
    for broken in [{}, *_without(context)]:
        outcome = _outcome(engine._render_built_in, template, broken)
        assert outcome == _outcome(_render, template, broken)
        kinds.add(outcome[0])
    assert _outcome(engine._render_built_in, template, {})[0] != "text"
    assert (jinja2.UndefinedError in kinds) == (name != ALL_FILTERED)


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_a_value_a_filter_refuses_is_the_same_error(made, name):
    template, context = made[0][name][0]
    in_a_filter = 0
    for wrong in (1.5, "line\nbreak"):
        for broken in _replaced(context, wrong):
            outcome = _outcome(engine._render_built_in, template, broken)
            assert outcome == _outcome(_render, template, broken)
            in_a_filter += outcome[0] != "text" and outcome[-1]
    assert bool(in_a_filter) == (name in FILTERED)
