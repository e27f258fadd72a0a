"""Loading templates as Django does, and recording what a walk followed.

``load_template`` finds a template through the engine's loaders (with the
extends history for a parent); ``Dependency`` records a followed template
with the digest of its content, or a template that failed to load with the
digest of its failure, so a cached or stored result can tell whether it
still holds.

    >>> template = load_template(default_engine(), "rentals/base.html")
    >>> Dependency.of("rentals/base.html", None, template).still_same(default_engine())
    True
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from dataclasses import dataclass, field

from django.template import Engine, Template, TemplateDoesNotExist, TemplateSyntaxError, engines
from django.template.base import Origin
from django.template.utils import InvalidTemplateEngineError

logger = logging.getLogger("djust.extraction")


def default_engine() -> Engine:
    """The engine templates are extracted with when none is given: the
    project's ``"django"`` template backend, else Django's default engine.

        >>> isinstance(default_engine(), Engine)
        True
    """
    try:
        return engines["django"].engine
    except InvalidTemplateEngineError:  # no backend aliased "django"
        return Engine.get_default()


def parse_template(source: str, engine: Engine, name: str | None, label: str) -> Template:
    """Parse ``source`` with ``engine``; a failure is a ``TemplateSyntaxError``
    naming ``label`` (and the line, when Django knows it).

        >>> parse_template("{{ a }}", default_engine(), None, "doc").source
        '{{ a }}'
    """
    origin = Origin(label, template_name=name)
    try:
        return Template(source, origin=origin, name=name, engine=engine)
    except Exception as exc:  # a tag's compile function failing is a syntax error too
        raise syntax_error(exc, label) from exc


def syntax_error(exc: Exception, label: str) -> TemplateSyntaxError:
    """Django's error, re-raised with the template name and line in its message.

        >>> str(syntax_error(ValueError("bad"), "page.html"))
        'page.html: ValueError: bad'
    """
    token = getattr(exc, "token", None)
    line = getattr(token, "lineno", None)
    if line is None:
        line = (getattr(exc, "template_debug", None) or {}).get("line")
    message = getattr(exc, "raw_error_message", None) or (exc.args[0] if exc.args else "")
    if not isinstance(exc, TemplateSyntaxError):
        message = f"{type(exc).__name__}: {exc}"
    where = f"{label}, line {line}" if line else label
    text = f"{where}: {message}"
    if getattr(exc, "template_name", None) == label:
        text = message  # made here already (by ``load_template``): it says where
    error = TemplateSyntaxError(text)
    error.template_name = label
    error.lineno = line
    if token is not None:
        error.token = token
    if hasattr(exc, "template_debug"):
        error.template_debug = exc.template_debug
    return error


def load_template(engine: Engine, name: str, skip: tuple | None = None):
    """Load a template as Django would: ``get_template`` for includes
    (``skip`` None), ``find_template`` with the extends history (the origins
    ``skip`` lists) for parents.

        >>> load_template(default_engine(), "rentals/base.html").origin.template_name
        'rentals/base.html'
    """
    try:
        if skip is None:
            return engine.get_template(name)
        template, origin = engine.find_template(name, skip=list(skip))
        if not hasattr(template, "render"):  # a loader that returns source
            template = Template(template, origin, name, engine=engine)
        return template
    except (TemplateDoesNotExist, TemplateSyntaxError):
        raise
    except Exception as exc:
        raise syntax_error(exc, name) from exc


def load_failure(exc: Exception, name: str, skip: tuple | None = None) -> str:
    """What went wrong loading ``name`` (with the extends history ``skip``),
    as an ``Unanalysed`` reason ends.

        >>> load_failure(TemplateDoesNotExist("parts/row.html"), "parts/row.html")
        'does not exist'
        >>> load_failure(TemplateSyntaxError("Invalid block tag"), "parts/row.html")
        'does not compile: parts/row.html: Invalid block tag'
    """
    if not isinstance(exc, TemplateDoesNotExist):
        return f"does not compile: {syntax_error(exc, name)}"
    if skip and any(origin in skip for origin, _status in exc.tried or ()):
        return ("does not exist, but as a template the chain already extends "
                "(Django skips those, to avoid recursion)")
    return "does not exist"


def template_source(template) -> str:
    """The text of a loaded template (of the file defining it, for a partial).

        >>> template_source(parse_template("{{ a }}", default_engine(), None, "doc"))
        '{{ a }}'
    """
    if isinstance(template, Template):
        return template.source
    # A partial (Django 6): its content lives in the file that defines it.
    origin = getattr(template, "origin", None)
    try:
        return origin.loader.get_contents(origin)
    except Exception:
        logger.debug("no source for %r: cached by name only", template)
        return ""


def _digest(source: str) -> str:
    return hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _failure_digest(exc: Exception, name: str, skip: tuple | None) -> str:
    return _FAILED + _digest(load_failure(exc, name, skip))


# Prefix of the digest of a load that failed: never a content digest (hex).
_FAILED = "!"


@dataclass(frozen=True, slots=True)
class Dependency:
    """A template the result followed: how it was loaded and its content.

    ``template`` (a weak reference to the loaded object, when it allows one)
    lets a later check skip hashing when the loader hands out that same object.
    A template that did not load (missing, or not compiling) is a dependency
    too (``Dependency.failure``): the result no longer holds once it loads,
    or fails otherwise.

        >>> engine = default_engine()
        >>> base = Dependency.of("rentals/base.html", None,
        ...                      load_template(engine, "rentals/base.html"))
        >>> base.still_same(engine), base.matches("edited")
        (True, False)
    """

    name: str
    skip: tuple | None
    digest: str
    template: weakref.ref | None = field(default=None, compare=False)

    @classmethod
    def of(cls, name: str, skip: tuple | None, template) -> Dependency:
        """The record of ``template``, loaded as ``name`` with ``skip``."""
        try:
            seen = weakref.ref(template)
        except TypeError:  # an object without weak references: always hashed
            seen = None
        return cls(name, skip, _digest(template_source(template)), seen)

    @classmethod
    def failure(cls, name: str, skip: tuple | None, exc: Exception) -> Dependency:
        """The record of ``name`` failing to load with ``exc``.

            >>> Dependency.failure("gone.html", None, TemplateDoesNotExist("gone.html")).failed
            True
        """
        return cls(name, skip, _failure_digest(exc, name, skip))

    @property
    def failed(self) -> bool:
        """True for the record of a template that did not load."""
        return self.digest.startswith(_FAILED)

    def matches(self, source: str) -> bool:
        """True when ``source`` is the content the template had."""
        return _digest(source) == self.digest

    def still_same(self, engine: Engine) -> bool:
        """True when loading the template again gives the content it had."""
        try:
            template = load_template(engine, self.name, self.skip)
        except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
            # Still failing as it did: the record of that failure holds.
            return self.digest == _failure_digest(exc, self.name, self.skip)
        seen = self.template
        if seen is not None and seen() is template:
            # A loader hands out the same object only until it re-reads the
            # file (the cached loader's reset on autoreload): its content
            # was hashed.
            return True
        # A failure record that loads now ends here too: no content has its digest.
        return self.matches(template_source(template))
