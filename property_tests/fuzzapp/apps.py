from django.apps import AppConfig


class FuzzappConfig(AppConfig):
    name = "property_tests.fuzzapp"
    label = "fuzzapp"
    default_auto_field = "django.db.models.BigAutoField"
