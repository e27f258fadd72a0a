"""djust: Django templates compiled into query plans and serializers.

Public API::

    from djust.compiler import (
        extract_template_variables, compile_serializer, optimize_queryset,
    )
"""

__version__ = "0.1.0"
