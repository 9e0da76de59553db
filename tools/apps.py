from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = gettext_lazy("Tools")

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from tools.gate import clear_caches
        from tools.registry import autodiscover

        autodiscover()
        setting_changed.connect(
            lambda **kwargs: clear_caches(), weak=False, dispatch_uid="tools.clear_caches"
        )
