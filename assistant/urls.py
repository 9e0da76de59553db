from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from assistant.attachments import views as attachment_views
from assistant.ops import metrics
from assistant.pages import views
from assistant.preferences.views import save_preferences
from assistant.search.views import search_page
from assistant.transcript.exchange_views import export, import_view
from assistant.transcript.switch_views import switch_view

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("c/new/", views.conversation_new, name="conversation_new"),
    path("c/<uuid:conversation_id>/", views.conversation_detail, name="conversation"),
    path("c/<uuid:conversation_id>/rename/", views.conversation_rename, name="conversation_rename"),
    path("c/<uuid:conversation_id>/delete/", views.conversation_delete, name="conversation_delete"),
    path("c/<uuid:conversation_id>/branch/", views.conversation_branch, name="conversation_branch"),
    path("c/<uuid:conversation_id>/profile/", switch_view, name="conversation_profile"),  # issue 14
    path("c/<uuid:conversation_id>/attachments/", attachment_views.upload, name="attachment_upload"),
    path("c/<uuid:conversation_id>/attachments/<uuid:attachment_id>/remove/", attachment_views.remove,
         name="attachment_remove"),
    path("search/", search_page, name="search"),  # full-text search (docs/ui.md)
    path("c/<uuid:conversation_id>/export.md", export, {"kind": "md"}, name="conversation_export_md"),
    path("c/<uuid:conversation_id>/export.json", export, {"kind": "json"}, name="conversation_export_json"),
    path("import/", import_view, name="conversation_import"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("assistant.api.urls")),  # the public API (docs/api.md)
    path("settings/tokens/", include("assistant.api.token_urls")),  # its personal tokens
    path("settings/preferences/", save_preferences, name="preferences"),  # theme, banner (docs/ui.md)
    # The scripts' translations in the request's language (locale/*/djangojs.po, docs/ui.md).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus (docs/operations.md)
    path("", include("assistant.ops.health")),  # GET /health, GET /ready (docs/deploy.md)
]

# Development only (DEBUG): lets plain `daphne` serve /static/ with no extra server.
urlpatterns += staticfiles_urlpatterns()
