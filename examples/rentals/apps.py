from django.apps import AppConfig


class RentalsConfig(AppConfig):
    name = "examples.rentals"
    label = "rentals"
    default_auto_field = "django.db.models.BigAutoField"
