from django.apps import AppConfig


class ExtraConfig(AppConfig):
    name = "parallel_checks.extra"
    label = "parallel_extra"
