"""A tiny tag library for the extraction tests: tags djust cannot analyse."""

from django import template

register = template.Library()


@register.simple_tag
def shout(value, suffix="!"):
    return f"{value}{suffix}".upper()


@register.simple_tag(takes_context=True)
def whole_context(context, key):
    return context.get(key, "")


@register.filter
def first(value):
    """A project filter named like a builtin: djust must not trust the name."""
    return value


class BoxNode(template.Node):
    """``{% box item.title width=size as boxed %}...{% endbox %}``"""

    def __init__(self, title, options, nodelist, target):
        self.title = title
        self.options = options
        self.nodelist = nodelist
        self.target = target

    def render(self, context):
        body = self.nodelist.render(context)
        return f"[{self.title.resolve(context)}] {body}"


@register.tag
def box(parser, token):
    bits = token.split_contents()[1:]
    target = None
    if len(bits) >= 2 and bits[-2] == "as":
        target = bits[-1]
        bits = bits[:-2]
    title = parser.compile_filter(bits[0])
    options = {}
    for bit in bits[1:]:
        key, _, value = bit.partition("=")
        options[key] = [parser.compile_filter(value)]
    nodelist = parser.parse(("endbox",))
    parser.delete_first_token()
    return BoxNode(title, options, nodelist, target)


@register.tag
def explode(parser, token):
    """Fails while compiling with an error that is not a TemplateSyntaxError."""
    raise ValueError("explode always fails")
