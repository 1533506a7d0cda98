from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "digest"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers of the relays' webhook signals.
        from digest.views import relay  # noqa: F401
