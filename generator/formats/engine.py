"""The one Jinja2 environment of the renderers: sandboxed, strict, compiled once per template folder.

Values reach a template only as context data and leave it only through the format's
escaping filter (``js`` for prefs.js, XML autoescaping for plists, ``ini`` for PRF files,
HTML autoescaping for pages); no value is ever rendered as a template. A site's template
folder (``templates_dir``) is searched first, so a site overrides any template by placing
a file of the same relative name there; with a site folder, every template runs in Jinja's
immutable sandbox.

The site's templates are the site's input, so with a site folder:

* every file read through it is a regular UTF-8 file of at most ``Limits.max_template_bytes``, and links
  are followed only where they stay in the inventory's folder or an allowed one (:class:`SiteLoader`);
* a render is bounded: ``SITE_CPU_SECONDS`` of CPU time, ``SITE_OUTPUT_CHARS`` of output, and (in a
  process with one thread) ``SITE_MEMORY_BYTES`` more address space; ``*``, ``**`` and ``+`` refuse
  results beyond those sizes before they are made;
* whatever goes wrong while rendering is a :class:`SiteTemplateError` at the innermost template's
  file and line.

The built-in templates alone (no site folder) run unbounded and unchanged: they are ours, and the hot path.
Nothing here imports a renderer.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator, MutableMapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import CodeType, FrameType, TracebackType
from typing import Any, cast

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import SiteTemplateError, UnrepresentableValue
from ..inventory.bounds import DEFAULT_LIMITS, read_confined
from ..model import Site
from ..resources import data_dir

try:
    import resource
    HAS_RLIMIT = True
except ImportError:    # pragma: no cover - not on POSIX
    HAS_RLIMIT = False

Filters = tuple[tuple[str, Callable[..., str]], ...]

SITE_CPU_SECONDS = 3.0                  # CPU time for one file made with a site folder
SITE_OUTPUT_CHARS = 4 * 1024 * 1024     # characters of one file; also the longest string or list ``*``/``+`` make
SITE_MEMORY_BYTES = 512 * 1024 * 1024   # address space one render may add (in a process with one thread)
SITE_INT_BITS = 100_000                 # the largest integer ``*`` and ``**`` make

_too_slow: weakref.WeakKeyDictionary[jinja2.Template, int] = weakref.WeakKeyDictionary()


class SiteLoader(jinja2.BaseLoader):
    """A site's templates below ``folder``: regular UTF-8 files without NUL bytes, at most ``max_bytes`` each,
    links followed only within ``roots``. What may not be read is refused (never left to the built-in
    template of the same name) with a :class:`SiteTemplateError` naming the file."""

    def __init__(self, folder: Path, roots: tuple[Path, ...], max_bytes: int):
        self.folder, self.roots, self.max_bytes = folder, roots, max_bytes

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))
        if not os.path.lexists(path):
            raise jinja2.TemplateNotFound(template)
        data, problem = read_confined(path, self.roots, self.max_bytes)
        if problem is not None:
            raise SiteTemplateError(f"{template} {problem}", str(path))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - data.rfind(b"\n", 0, exc.start)
            raise SiteTemplateError(f"{template} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at column "
                                    f"{column}; save the file as UTF-8)", str(path), line) from None
        if "\0" in text:
            raise SiteTemplateError(f"{template} holds a NUL byte (binary data, not a template)", str(path),
                                    text.count("\n", 0, text.index("\0")) + 1)
        stamp = _stamp(path)
        return text, str(path), lambda: _stamp(path) == stamp


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when the file a name leads to changes (links followed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class SiteEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*``, ``**`` and ``+`` refusing results too large to be part of a file."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    sized = (str, list, tuple)
    if operator == "*":
        for items, times in ((left, right), (right, left)):
            if isinstance(items, sized) and isinstance(times, int) and len(items) * times > SITE_OUTPUT_CHARS:
                raise SecurityError(f"'*' would make {len(items) * times:,} items, more than the limit of "
                                    f"{SITE_OUTPUT_CHARS:,}")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > SITE_INT_BITS:
            raise SecurityError(f"'*' would make an integer of more than {SITE_INT_BITS:,} bits")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 \
                and right * (left.bit_length() - 1) > SITE_INT_BITS:
            raise SecurityError(f"'**' would make an integer of more than {SITE_INT_BITS:,} bits")
    elif isinstance(left, sized) and isinstance(right, sized) and len(left) + len(right) > SITE_OUTPUT_CHARS:
        raise SecurityError(f"'+' would make {len(left) + len(right):,} items, more than the limit of "
                            f"{SITE_OUTPUT_CHARS:,}")


class BuiltInTemplate(jinja2.Template):
    """A built-in template whose ``{{ value }}`` escapes (autoescaping) with :func:`escape_value`: the same Markup as
    MarkupSafe's ``escape``, without its calls in Python for the two kinds of value a page is made of."""

    @classmethod
    def from_code(cls, environment: jinja2.Environment, code: CodeType, globals: MutableMapping[str, Any],
                  uptodate: Callable[[], bool] | None = None) -> jinja2.Template:
        template = super().from_code(environment, code, globals, uptodate)
        # The compiled module's own names (its functions' globals): its ``escape`` is MarkupSafe's
        names = template.root_render_func.__globals__
        if names.get("escape") is _ESCAPE:
            names["escape"] = escape_value
        return template


_ESCAPE: Callable[[Any], Any] = jinja2.filters.FILTERS["escape"]      # MarkupSafe's escape (the ``e`` filter)
_MARKUP = type(jinja2.filters.do_mark_safe(""))
_ESCAPED: dict[str, Any] = {}
_ESCAPED_ENTRIES = 4096


def escape_value(value: Any) -> Any:
    """MarkupSafe's ``escape``: Markup as it is (its ``__html__`` is itself), a ``str`` escaped once per distinct
    text (most of a page's texts are on every page: its words, paths, hosts), anything else by ``escape``."""
    kind = type(value)
    if kind is _MARKUP:
        return value
    if kind is not str:
        return _ESCAPE(value)
    made = _ESCAPED.get(value)
    if made is None:
        if len(_ESCAPED) >= _ESCAPED_ENTRIES:
            _ESCAPED.clear()
        made = _ESCAPED[value] = _ESCAPE(value)
    return made


class BuiltInContext(jinja2.runtime.Context):
    """A built-in template's context: a call of an imported template's macro (:class:`_Once`, which wants no context
    passed) goes to it at once, not through the search for a ``pass_context`` mark on it and its ``__call__``."""

    def call(__self, __obj: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if type(__obj) is not _Once:
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined("value was undefined because a callable raised a StopIteration "
                                                "exception")


class BuiltInEnvironment(jinja2.Environment):
    """The built-in templates' environment: ``a.b`` on a dict (the renderers' data) is its key ``b`` at once.

    Jinja looks for an attribute first, and on a dict that look fails, raising an exception, before the key is
    found: a fifth of a page's time. The answer is the same: a name of a dict's own attributes (``items``) is
    still looked up as Jinja does. An imported template's name (``t.title``) is read from the module at once, and
    its macros make each text once per distinct plain arguments (:class:`_Once`)."""

    template_class = BuiltInTemplate
    context_class = BuiltInContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded: dict[str, jinja2.Template] = {}

    def get_template(self, name: str | jinja2.Template, parent: str | None = None,
                     globals: MutableMapping[str, Any] | None = None) -> jinja2.Template:
        """A template as Jinja loads it; without ``auto_reload`` (the built-in templates, read once per process) each
        name is loaded once and then taken from a dict, not from Jinja's cache, which reorders its entries under a
        lock at each look-up (a page imports its wording and its parts: several look-ups per file)."""
        if globals is not None or self.auto_reload or type(name) is not str:
            return super().get_template(name, parent, globals)
        found = self.loaded.get(name)
        if found is None:
            found = self.loaded[name] = super().get_template(name, parent)
        return found

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is dict:
            if attribute in obj and attribute not in _DICT_ATTRIBUTES:
                return obj[attribute]
        elif kind is jinja2.environment.TemplateModule and attribute in obj.__dict__:
            # An imported template's name (its own, which no attribute of the class hides)
            found = obj.__dict__[attribute]
            return _once(found) if type(found) is jinja2.runtime.Macro else found
        return super().getattr(obj, attribute)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one dict, not a ChainMap over the environment's: each ``{% import %}`` compares
        their names with the importing context's, in Python code for a ChainMap. The environment's globals are
        never changed after it is made (``environment``), so a copy says the same."""
        return {**self.globals, **(d or {})}


_DICT_ATTRIBUTES = frozenset(dir(dict))
# The argument types a macro's output is remembered for: immutable values, compared with their type (1 and True are
# equal keys, but not the same text; no float: 0.0 and -0.0 are equal too).
_PLAIN = frozenset((str, int, bool, type(None), _MARKUP))
_ONCE_ENTRIES = 4096


class _Once:
    """A built-in template module's macro (an imported template's, as ``t.step``) called with plain values: made once
    per distinct values. A built-in macro's output depends on its arguments alone (the module's own values are set
    when it is imported, once per environment), so the text is the same as the macro would make again."""

    __slots__ = ("macro", "made")
    # Jinja asks each callable whether it wants the context passed (``pass_context`` sets this attribute): the
    # answer is no, given at once rather than by a failed look-up.
    jinja_pass_arg = None

    def __init__(self, macro: jinja2.runtime.Macro) -> None:
        self.macro = macro
        self.made: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        types = tuple(map(type, args))
        if kwargs or not _PLAIN.issuperset(types):
            return self.macro(*args, **kwargs)
        key = args + types
        made = self.made.get(key)
        if made is None:
            if len(self.made) >= _ONCE_ENTRIES:
                self.made.clear()
            made = self.made[key] = self.macro(*args)
        return made


_Once.__call__.jinja_pass_arg = None      # type: ignore[attr-defined]   # Jinja asks the bound method too


def _once(macro: jinja2.runtime.Macro) -> _Once:
    once: _Once | None = macro.__dict__.get("_once")
    if once is None:
        once = macro.__dict__["_once"] = _Once(macro)
    return once


@cache
def environment(folder: str, autoescape: bool, filters: Filters, site_dir: str | None,
                roots: tuple[str, ...] = ()) -> jinja2.Environment:
    """A compiled-once environment for one format's template folder, the site's copy first (``roots``: where
    the site's files may lead; none: the site's folder only)."""
    built_in = jinja2.FileSystemLoader(str(data_dir("templates") / folder))
    options: dict[str, Any] = dict(undefined=jinja2.StrictUndefined, autoescape=autoescape,
                                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env: jinja2.Environment
    if site_dir:
        # Site templates are the site's code: they run in the sandbox, bounded. The environment lives as long as
        # the process, and a process may run many times (the Python API): a site's file is checked on disk before
        # each use, so an edited template is used by the next run.
        allowed = tuple(Path(root).resolve() for root in roots or (site_dir,))
        site = SiteLoader(Path(site_dir) / folder, allowed, DEFAULT_LIMITS.max_template_bytes)
        env = SiteEnvironment(loader=jinja2.ChoiceLoader([site, built_in]), **options)
    else:
        # The built-in ones are ours, installed with the package: read once per process, with no stat before each
        # file they make (auto_reload off), and run without the sandbox's per-attribute checks (a third of the time).
        env = BuiltInEnvironment(loader=built_in, auto_reload=False, **options)
    env.filters.update(dict(filters))
    return env


def render_text(site: Site, folder: str, template: str, context: dict[str, Any], *, autoescape: bool = False,
                filters: Filters = (), scale: int = 1) -> str:
    """Render ``folder/template`` with ``context``; encoding and line endings are the caller's.

    With a site folder, any failure is a :class:`SiteTemplateError` at the
    template's file and line. ``scale``: a file that holds that many files' worth (a group's handouts) gets
    that many times the CPU time and output of one.
    """
    env = environment(folder, autoescape, filters, site.templates_dir, site.template_roots)
    if not site.templates_dir:
        return _render_built_in(env.get_template(template), context)
    assert site.templates_dir is not None
    return _render_site(env, template, context, str(Path(site.templates_dir) / folder / template), scale)


def _render_built_in(template: jinja2.Template, context: dict[str, Any]) -> str:
    """``template.render(context)`` for a built-in template, the same text and errors, with its context made at
    once: ``render`` copies the data twice (into a dict, then merged with the template's globals by keyword) for
    every file made."""
    env = template.environment
    globals = template.globals
    made = env.context_class(env, {**globals, **context}, template.name, template.blocks, globals=globals)
    try:
        return "".join(template.root_render_func(made))
    except Exception:
        env.handle_exception()


def _render_site(env: jinja2.Environment, name: str, context: dict[str, Any], where: str, scale: int = 1) -> str:
    """Render a template of a site's environment within the bounds; ``where``: the file named when no
    template frame says more."""
    top: jinja2.Template | None = None
    clock = _Clock(SITE_CPU_SECONDS * scale)
    max_chars = SITE_OUTPUT_CHARS * scale
    try:
        with _bounded(clock):
            top = env.get_template(name)
            if top in _too_slow:
                raise SiteTemplateError(f"not rendered: the template ran for more than {clock.seconds:g} s of "
                                        "CPU time making an earlier file", top.filename or where, _too_slow[top])
            chunks, size = [], 0
            parts = cast(Generator[str, None, None], top.generate(context))
            try:
                for chunk in parts:
                    size += len(chunk)
                    if size > max_chars:
                        raise SiteTemplateError(f"the template's output is more than {max_chars:,} "
                                                "characters long", top.filename or where)
                    clock.check()
                    chunks.append(chunk)
            finally:
                parts.close()
            clock.check()      # the time ran out, but a handler on the way swallowed it
            return "".join(chunks)
    except UnrepresentableValue:      # a value the validator should have refused: not the site's problem
        raise
    except Exception as exc:
        error = _site_error(exc, top.filename if top is not None and top.filename else where)
        if clock.expired and top is not None:
            _too_slow[top] = error.lineno
        raise error from exc


class _Clock:
    """The CPU deadline of one render: a timer signal where one can be set, and checks between output chunks."""

    def __init__(self, seconds: float = SITE_CPU_SECONDS) -> None:
        self.seconds = seconds
        self.deadline = time.process_time() + seconds
        self.expired = False

    def check(self) -> None:
        if self.expired or time.process_time() > self.deadline:
            self.expire()

    def expire(self, *_: object) -> None:
        self.expired = True
        raise SiteTemplateError(f"the template ran for more than {self.seconds:g} s of CPU time", "")


@contextmanager
def _bounded(clock: _Clock) -> Iterator[None]:
    """Interrupt the render when its CPU time runs out (``SIGPROF``, in the main thread, when nobody else uses
    it; again every 50 ms if a handler swallows it) and cap the address space it may add (in a process with one
    thread: a limit on the process would fail another thread's allocations)."""
    timer = (threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGPROF) == signal.SIG_DFL and clock.seconds > 0)
    memory = _memory_cap() if threading.active_count() == 1 else None
    if timer:
        signal.signal(signal.SIGPROF, clock.expire)
        signal.setitimer(signal.ITIMER_PROF, clock.seconds, 0.05)
    try:
        yield
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, signal.SIG_DFL)
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, memory)


def _memory_cap() -> tuple[int, int] | None:
    """Lower the soft address-space limit to what is in use plus ``SITE_MEMORY_BYTES``; the limits before, or
    None where nothing was changed."""
    if not HAS_RLIMIT:
        return None
    try:
        with open("/proc/self/statm", "rb") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        before = resource.getrlimit(resource.RLIMIT_AS)
        cap = used + SITE_MEMORY_BYTES
        if before[0] != resource.RLIM_INFINITY and before[0] <= cap:
            return None
        resource.setrlimit(resource.RLIMIT_AS, (cap, before[1]))
    except (OSError, ValueError):
        return None
    return before


def _site_error(exc: Exception, where: str) -> SiteTemplateError:
    """``exc`` as the site's input error, at the innermost template frame (or the file the error names)."""
    file, line = _innermost(exc.__traceback__)
    if isinstance(exc, (SiteTemplateError, jinja2.TemplateSyntaxError)) and exc.filename:
        file, line = exc.filename, exc.lineno
    if isinstance(exc, SiteTemplateError):
        text = exc.message or ""
    else:
        detail = (exc.message if isinstance(exc, jinja2.TemplateError) else None) or str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if len(text) > 300:
        text = text[:300] + "…"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return SiteTemplateError(text, file or where, line or 0)


def _innermost(tb: TracebackType | None) -> tuple[str, int]:
    """The file and line of the innermost template frame of a traceback Jinja has rewritten, or ("", 0)."""
    found = ("", 0)
    while tb is not None:
        frame: FrameType = tb.tb_frame
        if "__jinja_exception__" in frame.f_globals:
            found = (frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def template_origin(site: Site, relative: str) -> str:
    """Where the template ``folder/name`` comes from: the site's file, or ``built-in``."""
    if site.templates_dir:
        candidate = Path(site.templates_dir) / relative
        if candidate.is_file():
            return str(candidate)
    return "built-in"
