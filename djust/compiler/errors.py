"""The exception every compiler stage raises for input it cannot handle.

Bad templates raise Django's own ``TemplateSyntaxError`` and
``TemplateDoesNotExist``; ``CompilerError`` is for what is left: a model,
path or construct djust cannot compile. Callers such as LiveView fall back
to generic serialization on it, and on nothing else.
"""


class CompilerError(Exception):
    """djust could not compile something; the message names what and where."""
