"""What the compiler asks of a store shared between processes.

Workers analyse the same templates and compile the same serializers; a
shared store (``djust.store``) lets one worker's work serve the others. The
compiler does not import that store: it defines here what it asks of one,
``SharedStore``, and consults whichever object is registered. The djust app
registers its store at start-up (``DjustConfig.ready``); with nothing
registered every worker builds everything itself.

    >>> class Counting:
    ...     def __init__(self):
    ...         self.asked = 0
    ...     def serializer(self, model, tree, paths, mode, compile):
    ...         self.asked += 1
    ...         return compile()
    ...     def extraction(self, engine, *, how, label, source, root_origin, walk):
    ...         return walk()
    >>> counting, previous = Counting(), registered()
    >>> register(counting)
    >>> registered() is counting, isinstance(counting, SharedStore)
    (True, True)
    >>> register(previous)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SharedStore(Protocol):
    """The two questions the compiler asks a shared store.

    Each names what is wanted and passes the callable that builds it: the
    store answers from what it holds, or calls the builder and keeps its
    result for other workers. A store that cannot answer (down, slow, a
    stale or tampered entry) calls the builder: asking never fails because
    of the store.
    """

    def serializer(self, model: type, tree, paths: tuple[str, ...], mode: str,
                   compile: Callable[[], Any]) -> Any:
        """The serializer of ``model`` for the normalized ``paths`` in ``mode``.

        ``tree`` is the access tree built from the live models (part of
        what the stored serializer must match); ``compile()`` builds the
        serializer when the store has none.
        """

    def extraction(self, engine, *, how: str, label: str, source: str, root_origin,
                   walk: Callable[[], tuple[Any, tuple]]) -> tuple[Any, tuple]:
        """``(Extraction, dependencies)`` of one template.

        ``how`` is ``"name"`` (found through the loaders) or ``"source"``;
        ``label`` names it, ``source`` is its text and ``root_origin`` its
        origin; ``walk()`` extracts it when the store has no valid result.
        """


_REGISTERED: SharedStore | None = None


def register(store: SharedStore | None) -> None:
    """Make ``store`` the one the compiler consults (None: no shared store).

        >>> previous = registered()
        >>> register(None); registered() is None
        True
        >>> register(previous)
    """
    global _REGISTERED
    _REGISTERED = store


def registered() -> SharedStore | None:
    """The shared store the compiler consults, or None.

        >>> registered() is None or isinstance(registered(), SharedStore)
        True
    """
    return _REGISTERED
