import importlib

from django.apps import AppConfig

# Imported at start-up rather than by a worker's first page: together (the
# bytecode package the verifier uses included) they take about 20 ms with
# bytecode caches and several times that without, all of it otherwise paid
# by whichever request first extracts a template or compiles a serializer.
PRELOADED = (
    "djust.compiler.extraction",
    "djust.compiler.tree",
    "djust.compiler.plan",
    "djust.compiler.serializer",  # lowering, projection, emit (bytecode), cache
    "djust.live",  # context, state, html
)


class DjustConfig(AppConfig):
    name = "djust"
    verbose_name = "djust"

    def ready(self):
        # Build the configured serializer store now: a Redis client (and its
        # import) then costs start-up, not the first request, and a bad
        # DJUST["CACHE"] setting fails at start-up.
        from djust import checks, store  # noqa: F401  (importing registers the checks)

        store.configured_store()
        # The compiler does not import the store: it asks the one registered.
        store.install()
        for module in PRELOADED:
            importlib.import_module(module)
        if self.apps.is_installed("django.contrib.auth"):
            # A logout ends the sockets of the session it flushes.
            from django.contrib.auth.signals import user_logged_out

            from djust.routing import end_sockets_of_session

            user_logged_out.connect(end_sockets_of_session, dispatch_uid="djust.logout")
        if self.apps.is_installed("django.contrib.contenttypes"):
            # Every access tree looks for generic relations (tree._generic_classes).
            importlib.import_module("django.contrib.contenttypes.fields")
