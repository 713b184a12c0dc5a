"""What the handout makes once and reuses, and what its verifier reads: each gives the answer of the long way."""
from __future__ import annotations

import sys

import jinja2
import markupsafe
from markupsafe import Markup

from generator.formats import engine
from generator.formats.engine import BuiltInEnvironment, SiteEnvironment, escape_value
from generator.formats.verify.handout import OTHER_BLANKS, read


def _page(body: str, head: str = "") -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'
            ).encode()


def test_the_other_blanks_are_python_blanks_beside_xmls_four():
    assert OTHER_BLANKS == "".join(chr(code) for code in range(sys.maxunicode + 1)
                                   if chr(code).isspace() and chr(code) not in " \t\r\n")


def test_an_articles_text_is_folded_at_every_blank_python_knows():
    ascii_only = read(_page('<article lang="en"><p>a \t b</p>\n<p>c</p> <code>x  y</code></article>'))
    assert ascii_only.articles[0].text == "a b c x y" and ascii_only.articles[0].codes == ["x  y"]
    blanks = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace() and code != 0x85]
    for blank in blanks:        # U+0085 is no character in an HTML page
        page = read(_page(f'<article lang="en"><p>a{blank}b · “c”</p>\n<p>d</p></article>'))
        assert page.articles[0].text == "a b · “c” d", repr(blank)
    assert read(_page('<article lang="en">\u2003only\xa0text </article>')).articles[0].text == "only text"


def test_a_style_sheet_is_no_text_of_an_article_wherever_it_is():
    page = read(_page('<article lang="en"><style>p { color: red; }</style><p>seen</p> '
                      '<code><style>b {}</style>login</code></article>', "<style>h1 { margin: 0; }</style>"))
    assert page.articles[0].text == "seen login" and page.articles[0].codes == ["login"]
    assert page.problems == []
    loading = read(_page('<article lang="en"><style>@import url(x.css);</style><p>x</p></article>'))
    assert loading.problems == ["the style sheet loads from elsewhere (url() or @import)"]
    assert loading.articles[0].text == "x"


def test_steps_are_the_list_items_under_a_numbered_list_at_any_depth():
    page = read(_page('<article lang="en"><ol><li>before any section</li></ol>'
                      '<section><ol><li>a</li><li><ul><li>b</li></ul></li></ol><ul><li>file</li></ul></section>'
                      '<ul><li>after</li></ul><ol><li>after, numbered</li></ol><section></section>'
                      '<section><ul><li>none</li></ul></section></article>'))
    assert page.articles[0].steps == [4, 0, 0]


def test_forbidden_tags_are_named_in_page_order_before_the_attributes():
    page = read(_page('<p onclick="x()">x</p><img src="https://x/y.png"><script>1</script>',
                      '<meta http-equiv="refresh" content="0"><link rel="stylesheet" href="x.css">'))
    assert page.problems == ["<link> is not allowed in a self-contained page",
                             "<img> is not allowed in a self-contained page",
                             "<script> is not allowed in a self-contained page",
                             "<p> has the event handler onclick",
                             "<img src> loads 'https://x/y.png' from elsewhere",
                             "<meta http-equiv> is not allowed"]


def _module_environment(calls: list[object]) -> BuiltInEnvironment:
    def tick(value: object) -> str:
        calls.append(value)
        return ""
    env = BuiltInEnvironment(loader=jinja2.DictLoader({
        "words.j2": "{% macro show(value) %}[{{ value }}]{{ tick(value) }}{% endmacro %}",
        "page.j2": "{% import 'words.j2' as w %}{% for value in values %}{{ w.show(value) }}{% endfor %}"
                   "{{ w.show(value=1) }}{{ w.show(1) }}"}),
        autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["tick"] = tick
    return env


def test_a_modules_macro_is_made_once_per_plain_arguments_of_the_same_type():
    calls: list[object] = []
    values = [1, True, "1", Markup("<b>"), "<b>", 1, None, True, "1", Markup("<b>"), "<b>", None]
    text = _module_environment(calls).get_template("page.j2").render(values=values)
    assert text == "[1][True][1][<b>][&lt;b&gt;]" "[1][None][True][1][<b>][&lt;b&gt;][None]" "[1][1]"
    assert calls == [1, True, "1", Markup("<b>"), "<b>", None, 1]      # the call with a keyword is made again


def test_a_modules_macro_with_other_arguments_is_made_each_time():
    calls: list[object] = []
    values = [[1], [1], {"a": 1}, {"a": 1}, 1.0, 1.0]
    text = _module_environment(calls).get_template("page.j2").render(values=values)
    assert text == "[[1]][[1]][{&#39;a&#39;: 1}][{&#39;a&#39;: 1}][1.0][1.0][1][1]"
    assert calls == [[1], [1], {"a": 1}, {"a": 1}, 1.0, 1.0, 1, 1]


class _Html:
    def __html__(self) -> str:
        return "<i>made</i>"


class _Text(str):
    pass


def test_a_built_in_templates_escaping_gives_markupsafes_markup():
    values = ["", "plain", "<a href='x'>&\"</a>", "“quotes” › ·", Markup("<b>&amp;</b>"), _Text("<s>"), _Html(), 5, 1.5,
              None, True, ["<"]]
    for value in values * 2:           # the second time from what was made the first
        made = escape_value(value)
        assert made == markupsafe.escape(value) and type(made) is Markup, repr(value)
    engine._ESCAPED.clear()
    for number in range(engine._ESCAPED_ENTRIES + 10):
        assert escape_value(f"<{number}>") == f"&lt;{number}&gt;"
    assert 0 < len(engine._ESCAPED) <= engine._ESCAPED_ENTRIES


def test_only_the_built_in_templates_escape_with_it():
    source = "{{ value }}|{{ value|e }}"
    built_in = BuiltInEnvironment(loader=jinja2.DictLoader({"t.j2": source}), autoescape=True)
    site = SiteEnvironment(loader=jinja2.DictLoader({"t.j2": source}), autoescape=True)
    for env in (built_in, site):
        assert env.get_template("t.j2").render(value="<&>") == "&lt;&amp;&gt;|&lt;&amp;&gt;"
    assert built_in.get_template("t.j2").root_render_func.__globals__["escape"] is escape_value
    assert site.get_template("t.j2").root_render_func.__globals__["escape"] is markupsafe.escape
