"""Tags that assign a name, in the shapes Django and common packages write them.

Each mimics one real tag's node: the attribute it keeps the assigned name
under, and what it compiles as variables. The extraction tests check that
the name is a local after the tag while the tag's arguments are still read.
Rendering follows the real tags closely enough for the oracle-style checks.
"""

from django import template
from django.template.base import FilterExpression

register = template.Library()


def _as_clause(bits: list[str]) -> tuple[list[str], str | None]:
    if len(bits) >= 2 and bits[-2] == "as":
        return bits[:-2], bits[-1]
    return bits, None


class PagesNode(template.Node):
    """``{% get_pages [prefix] [for user] as name %}``: django.contrib.flatpages'
    ``get_flatpages`` (``context_name``, arguments as ``template.Variable``)."""

    def __init__(self, context_name, starts_with=None, user=None):
        self.context_name = context_name
        self.starts_with = template.Variable(starts_with) if starts_with else None
        self.user = template.Variable(user) if user else None

    def render(self, context):
        prefix = self.starts_with.resolve(context) if self.starts_with else ""
        context[self.context_name] = [prefix]
        return ""


@register.tag
def get_pages(parser, token):
    bits, name = _as_clause(token.split_contents()[1:])
    if name is None:
        raise template.TemplateSyntaxError("get_pages needs 'as name'")
    user = None
    if len(bits) >= 2 and bits[-2] == "for":
        user, bits = bits[-1], bits[:-2]
    return PagesNode(name, bits[0] if bits else None, user)


class ImageNode(template.Node):
    """``{% picture obj.photo "fill-80x80" [as img] %}``: wagtail's ``image``
    (``output_var_name``, attributes in a dict)."""

    def __init__(self, image_expr, filter_spec, output_var_name=None, attrs=None):
        self.image_expr = image_expr
        self.filter_spec = filter_spec
        self.output_var_name = output_var_name
        self.attrs = attrs or {}

    def render(self, context):
        image = self.image_expr.resolve(context)
        if self.output_var_name:
            context[self.output_var_name] = image
            return ""
        return str(image)


@register.tag
def picture(parser, token):
    bits, name = _as_clause(token.split_contents()[1:])
    attrs = {}
    for bit in bits[2:]:
        key, _, value = bit.partition("=")
        attrs[key] = parser.compile_filter(value)
    return ImageNode(parser.compile_filter(bits[0]), bits[1].strip("\"'"), name, attrs)


class PickNode(template.Node):
    """``{% pick seq as chosen %}``: a node keeping the name as ``var_name``."""

    def __init__(self, sequence, var_name):
        self.sequence = sequence
        self.var_name = var_name

    def render(self, context):
        context[self.var_name] = (self.sequence.resolve(context) or [None])[0]
        return ""


@register.tag
def pick(parser, token):
    bits, name = _as_clause(token.split_contents()[1:])
    return PickNode(parser.compile_filter(bits[0]), name)


class LabelNode(template.Node):
    """``{% label value [as name] %}``: a hand-written ``target_var`` node."""

    def __init__(self, value, target_var):
        self.value = value
        self.target_var = target_var

    def render(self, context):
        output = str(self.value.resolve(context))
        if self.target_var:
            context[self.target_var] = output
            return ""
        return output


@register.tag
def label(parser, token):
    bits, name = _as_clause(token.split_contents()[1:])
    return LabelNode(parser.compile_filter(bits[0]), name)


@register.simple_tag
def badge(value, prefix=""):
    """``{% badge value prefix=... as name %}``: a ``simple_tag`` with ``as``."""
    return f"{prefix}{value}"


@register.simple_block_tag
def wrap(content, value=""):
    """``{% wrap value as name %}...{% endwrap %}``: the body renders first."""
    return f"[{value}:{content}]"


class StashNode(template.Node):
    """``{% stash obj.items as name [limit n] %}``: an old-style tag keeping the
    name under an attribute no convention names (``pocket``)."""

    def __init__(self, source, pocket, limit=None):
        self.source = source
        self.pocket = pocket
        self.limit = limit

    def render(self, context):
        items = list(self.source.resolve(context) or ())
        if self.limit is not None:
            items = items[: int(self.limit.resolve(context))]
        context[self.pocket] = items
        return ""


@register.tag
def stash(parser, token):
    bits = token.split_contents()[1:]
    if len(bits) < 3 or bits[1] != "as":
        raise template.TemplateSyntaxError("stash needs 'source as name'")
    limit = parser.compile_filter(bits[4]) if bits[3:4] == ["limit"] else None
    return StashNode(parser.compile_filter(bits[0]), bits[2], limit)


class ThumbNode(template.Node):
    """``{% thumb file "100x100" crop="center" as im %}...{% empty %}...
    {% endthumb %}``: sorl-thumbnail's ``thumbnail`` (``as_var``, the body
    rendered with the name, options in a dict)."""

    child_nodelists = ("nodelist_file", "nodelist_empty")

    def __init__(self, parser, token):
        bits = token.split_contents()
        self.file_ = parser.compile_filter(bits[1])
        self.geometry = parser.compile_filter(bits[2])
        self.options = {}
        for bit in bits[3:-2]:
            key, _, value = bit.partition("=")
            self.options[key] = parser.compile_filter(value)
        self.as_var = bits[-1]
        self.nodelist_file = parser.parse(("empty", "endthumb"))
        if parser.next_token().contents == "empty":
            self.nodelist_empty = parser.parse(("endthumb",))
            parser.delete_first_token()
        else:
            self.nodelist_empty = template.NodeList()

    def render(self, context):
        file_ = self.file_.resolve(context)
        if not file_:
            return self.nodelist_empty.render(context)
        with context.push(**{self.as_var: file_}):
            return self.nodelist_file.render(context)


register.tag("thumb", ThumbNode)


class QueryNode(template.Node):
    """``{% query key=value ... [as name] %}``: django-tables2's
    ``querystring``, whose keys, like its values, are compiled as variables."""

    def __init__(self, updates, removals, asvar=None):
        self.updates = updates
        self.removals = removals
        self.asvar = asvar

    def render(self, context):
        params = {}
        for key, value in self.updates.items():
            key = key if isinstance(key, str) else key.resolve(context)
            params[key] = value.resolve(context)
        for removal in self.removals:
            params.pop(removal.resolve(context), None)
        output = "?" + "&".join(f"{key}={value}" for key, value in params.items())
        if self.asvar:
            context[self.asvar] = output
            return ""
        return output


@register.tag
def query(parser, token):
    bits, name = _as_clause(token.split_contents()[1:])
    updates: dict[FilterExpression, FilterExpression] = {}
    removals = []
    for bit in bits:
        key, sep, value = bit.rpartition("=")
        if sep:
            updates[parser.compile_filter(key)] = parser.compile_filter(value)
        else:
            removals.append(parser.compile_filter(value))
    return QueryNode(updates, removals, name)


class StyledNode(template.Node):
    """``{% styled obj as style %}``: ``as`` names a variable the tag *reads*
    (the style to render ``obj`` in), not one it assigns."""

    def __init__(self, value, style):
        self.value = value
        self.style = style

    def render(self, context):
        return f"{self.style.resolve(context)}:{self.value.resolve(context)}"


@register.tag
def styled(parser, token):
    bits = token.split_contents()[1:]
    return StyledNode(parser.compile_filter(bits[0]), parser.compile_filter(bits[2]))


class TreeNode(template.Node):
    """``{% tree_for node as tree depth n %}``: django-mptt's
    ``drilldown_tree_for_node`` shape, ``as <name>`` followed by more bits,
    the name kept under ``keep``."""

    def __init__(self, node, keep, depth):
        self.node = node
        self.keep = keep
        self.depth = depth

    def render(self, context):
        context[self.keep] = [self.node.resolve(context)] * int(self.depth.resolve(context))
        return ""


@register.tag
def tree_for(parser, token):
    bits = token.split_contents()[1:]
    return TreeNode(parser.compile_filter(bits[0]), bits[2], parser.compile_filter(bits[4]))


class ShowNode(template.Node):
    """``{% show value as fallback mode %}``: ``as <name>`` mid-token where the
    tag compiles ``<name>`` as a variable it reads."""

    def __init__(self, value, fallback, mode):
        self.value = value
        self.fallback = fallback
        self.mode = mode

    def render(self, context):
        return str(self.value.resolve(context) or self.fallback.resolve(context))


@register.tag
def show(parser, token):
    bits = token.split_contents()[1:]
    return ShowNode(parser.compile_filter(bits[0]), parser.compile_filter(bits[2]), bits[3])


class RecentNode(template.Node):
    """``{% recent seq into name %}``: no ``as`` in the token; the name is found
    only by the attribute the node keeps it under (``context_var``, as
    django-mptt's nodes do, or any other, given as ``attribute``)."""

    def __init__(self, sequence, name, attribute):
        self.sequence = sequence
        setattr(self, attribute, name)
        self.attribute = attribute

    def render(self, context):
        context[getattr(self, self.attribute)] = list(self.sequence.resolve(context))[-1:]
        return ""


@register.tag
def recent(parser, token):
    bits = token.split_contents()[1:]
    return RecentNode(parser.compile_filter(bits[0]), bits[2], "context_var")


@register.tag
def recent_kept(parser, token):
    bits = token.split_contents()[1:]
    return RecentNode(parser.compile_filter(bits[0]), bits[2], "kept")
