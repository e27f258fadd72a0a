"""Finding the ``dj-root`` element in a rendered page.

LiveView swaps only the inside of the element that carries the ``dj-root``
attribute. ``locate_root`` walks the page with the standard library's HTML
parser and returns the offsets of that element's start tag and of its
content, counting nested elements of the same tag name so that the matching
end tag is found.

    >>> root_inner_html('<body><main dj-root><p>hi</p></main></body>')
    '<p>hi</p>'
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
})


class RootNotFound(ValueError):
    pass


class _RootFinder(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=False)
        self.page = page
        self.line_offsets = [0]
        for line in page.splitlines(keepends=True):
            self.line_offsets.append(self.line_offsets[-1] + len(line))
        self.tag: str | None = None
        self.depth = 0
        self.start_tag: tuple[int, int] | None = None
        self.end: int | None = None

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_offsets[line - 1] + column

    def handle_starttag(self, tag, attrs):
        if self.end is not None:
            return
        if self.tag is None:
            if any(name == "dj-root" for name, _ in attrs):
                start = self.position()
                text = self.get_starttag_text() or ""
                self.start_tag = (start, start + len(text))
                self.tag = tag
                self.depth = 1
        elif tag == self.tag and tag not in VOID_ELEMENTS:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.tag is None or self.end is not None or tag != self.tag:
            return
        self.depth -= 1
        if self.depth == 0:
            self.end = self.position()


def locate_root(page: str) -> tuple[int, int, int]:
    """Return (start of the start tag, start of content, end of content)."""
    finder = _RootFinder(page)
    finder.feed(page)
    finder.close()
    if finder.start_tag is None:
        raise RootNotFound("the page has no element with a dj-root attribute")
    if finder.end is None:
        raise RootNotFound(f"the dj-root <{finder.tag}> element is never closed")
    return finder.start_tag[0], finder.start_tag[1], finder.end


def root_inner_html(page: str) -> str:
    _, content_start, content_end = locate_root(page)
    return page[content_start:content_end]


def annotate_root(page: str, attributes: dict[str, str], *, script: str,
                  state_json: str) -> str:
    """Add attributes to the dj-root start tag, and the client script and
    the initial state right after the element."""
    tag_start, content_start, content_end = locate_root(page)
    start_tag = page[tag_start:content_start]
    closing = start_tag.rstrip().endswith("/>")
    head = start_tag[: -2 if closing else -1].rstrip()
    extra = "".join(f' {name}="{escape(value)}"' for name, value in attributes.items())
    new_start = f"{head}{extra}{' />' if closing else '>'}"
    end_of_element = page.index(">", content_end) + 1
    # "<" only occurs inside JSON strings, where \u003c means the same and
    # cannot close the script element or open a comment.
    payload = state_json.replace("<", "\\u003c")
    tail = (f'<script type="application/json" id="djust-state">{payload}</script>'
            f'<script src="{escape(script)}" defer></script>')
    return (page[:tag_start] + new_start + page[content_start:end_of_element] + tail
            + page[end_of_element:])
