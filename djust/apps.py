from django.apps import AppConfig


class DjustConfig(AppConfig):
    name = "djust"
    verbose_name = "djust"
