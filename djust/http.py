"""``StreamingJsonResponse``: a serializer's rows streamed as a JSON array.

    from djust.compiler import compile_serializer
    from djust.http import StreamingJsonResponse

    LEASES = ["tenant.user.email", "end_date"]

    def leases(request):
        serializer = compile_serializer(Lease, LEASES)
        return StreamingJsonResponse(serializer, Lease.objects.all())

The body is exactly ``json.dumps(serializer.many(queryset),
cls=DjangoJSONEncoder)`` encoded as UTF-8, written a chunk of rows at a time
(``djust.compiler.streaming.stream``): the rows are queried while the
response is sent, not when the view returns.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse

from djust.compiler.streaming import stream


class StreamingJsonResponse(StreamingHttpResponse):
    """A ``StreamingHttpResponse`` of ``application/json`` whose content is
    ``stream(serializer, queryset, chunk_size)`` as UTF-8 bytes.

    Other keyword arguments (``status``, ``headers``, ``content_type``...)
    are ``StreamingHttpResponse``'s. A serializer not in JSON mode, a
    queryset of plain rows or a bad ``chunk_size`` raise here, before any
    query.
    """

    def __init__(self, serializer, queryset, chunk_size: int | None = None,
                 **kwargs) -> None:
        kwargs.setdefault("content_type", "application/json")
        chunks = stream(serializer, queryset, chunk_size=chunk_size)
        super().__init__((chunk.encode() for chunk in chunks), **kwargs)
