from django.apps import AppConfig


class SsdConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ssd"
    verbose_name = "Import from the Standard Safeguarding Dataset"
