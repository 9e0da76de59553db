from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Chat"

    def ready(self) -> None:
        from assistant.providers.profiles import get_profiles

        get_profiles()  # a malformed LLM_* setting stops start-up, naming the variable
