from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = gettext_lazy("Approvals and audit")

    def ready(self) -> None:
        from approvals.audit import on_config_changed
        from tools.signals import config_changed

        config_changed.connect(on_config_changed, dispatch_uid="approvals.audit.config_changed")
