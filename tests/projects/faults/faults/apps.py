from django.apps import AppConfig


class FaultsConfig(AppConfig):
    name = "faults"

    def ready(self):
        from . import injection, sessions

        injection.install()
        sessions.install()
