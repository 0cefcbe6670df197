from django.apps import AppConfig


class ReaderStudyConfig(AppConfig):
    name = "readerstudy"
    verbose_name = "Reader studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from readerstudy.audit import signals  # noqa: F401 (connects the audit receivers)
