from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = gettext_lazy("Chat")

    def ready(self) -> None:
        from assistant.providers.profiles import get_profiles

        get_profiles()  # a malformed LLM_* setting stops start-up, naming the variable

        from django.conf import settings

        from assistant.storage.private import data_paths, secure_data_dir

        secure_data_dir(*data_paths(settings))  # fixes (and logs) or refuses, naming the path

        from approvals.signals import call_settled
        from assistant.runs.chat import on_call_settled

        call_settled.connect(on_call_settled, dispatch_uid="assistant.resume_on_settled")

        from assistant.mcp.waiting import on_call_settled as wake_mcp_request

        call_settled.connect(wake_mcp_request, dispatch_uid="assistant.mcp.wake_on_settled")

        from approvals.review import set_conversation_renderer
        from assistant.review.context import render_for_approval

        set_conversation_renderer(render_for_approval)  # the decision page shows the chat as the chat does

        from assistant.security import logins

        logins.connect()  # after axes (earlier in INSTALLED_APPS) connected its receivers
