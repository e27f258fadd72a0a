"""What an extraction is: ``Extraction`` (paths per context name) and
``Unanalysed`` (a tag whose effect could not be analysed).

    >>> Extraction({"a": ["b"]}, templates=("page.html",))
    <Extraction {a: ['b']}, templates=['page.html']>
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["Extraction", "Unanalysed"]


@dataclass(frozen=True, slots=True)
class Unanalysed:
    """A tag whose effect on the context djust could not analyse.

    Its arguments were still extracted; ``reason`` says what is unknown.
    ``tag`` is empty when no one tag is to blame (the whole template nests
    too deeply to walk). ``names`` are the context names the tag's own
    arguments read (sorted; empty when it has none, or reads none): the
    values its code is handed, which a caller may leave as the view made
    them. Whether the tag reads more (the whole context) is in ``reason``.

        >>> print(Unanalysed("include", "page.html", 3,
        ...                  "included template 'row.html' does not exist"))
        {% include %} in page.html, line 3: included template 'row.html' does not exist
        >>> print(Unanalysed("", "page.html", None, "the template nests too deeply to analyse"))
        page.html: the template nests too deeply to analyse
        >>> Unanalysed("shout", "page.html", 1, "custom tag", ("lease",)).names
        ('lease',)
    """

    tag: str
    template: str
    line: int | None
    reason: str
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.template}, line {self.line}" if self.line else self.template
        if not self.tag:
            return f"{where}: {self.reason}"
        return f"{{% {self.tag} %}} in {where}: {self.reason}"


class Extraction(Mapping):
    """Immutable ``{root name: sorted paths}`` plus what the walk learnt.

    ``unanalysed`` lists the tags djust could not analyse; ``templates``
    names every template the walk read (itself, parents, includes); one that
    did not load is named by its ``Unanalysed`` record instead.

        >>> e = Extraction({"a": ["b", "b", ""]}, templates=("page.html",))
        >>> e["a"], e.templates
        (('', 'b'), ('page.html',))
    """

    __slots__ = ("_paths", "templates", "unanalysed")

    def __init__(
        self,
        paths: Mapping[str, Iterable[str]],
        unanalysed: Iterable[Unanalysed] = (),
        templates: Iterable[str] = (),
    ) -> None:
        frozen = {name: tuple(sorted(set(paths[name]))) for name in sorted(paths)}
        object.__setattr__(self, "_paths", frozen)
        object.__setattr__(self, "unanalysed", tuple(unanalysed))
        object.__setattr__(self, "templates", tuple(templates))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Extraction is immutable")

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._paths[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Extraction):
            return (self._paths, self.unanalysed, self.templates) == (
                other._paths,
                other.unanalysed,
                other.templates,
            )
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash((tuple(self._paths.items()), self.unanalysed, self.templates))

    def __repr__(self) -> str:
        paths = ", ".join(f"{name}: {list(paths)}" for name, paths in self._paths.items())
        extra = ""
        if self.unanalysed:
            extra += f", unanalysed={len(self.unanalysed)}"
        if self.templates:
            extra += f", templates={list(self.templates)}"
        return f"<Extraction {{{paths}}}{extra}>"

    def as_dict(self) -> dict[str, list[str]]:
        """A plain, JSON-ready copy: ``{name: [paths]}``."""
        return {name: list(paths) for name, paths in self._paths.items()}
