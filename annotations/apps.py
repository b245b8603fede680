from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    verbose_name = "LabelHub annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import protection  # noqa: F401 - connects the completion delete guards
