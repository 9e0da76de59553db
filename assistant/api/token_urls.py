"""The token page's URLs, mounted at ``settings/tokens/``."""

from django.urls import path

from assistant.api import token_views

app_name = "tokens"

urlpatterns = [
    path("", token_views.token_list, name="list"),
    path("<int:token_id>/revoke/", token_views.token_revoke, name="revoke"),
]
