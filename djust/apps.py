from django.apps import AppConfig


class DjustConfig(AppConfig):
    name = "djust"
    verbose_name = "djust"

    def ready(self):
        # Build the configured serializer store now: a Redis client (and its
        # import) then costs start-up, not the first request, and a bad
        # DJUST["CACHE"] setting fails at start-up.
        from djust import checks, store  # noqa: F401  (importing registers the checks)

        store.configured_store()
