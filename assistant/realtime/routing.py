from django.urls import path

from approvals.consumers import ApprovalQueueConsumer
from assistant.realtime.consumers import ConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/approvals/", ApprovalQueueConsumer.as_asgi()),
]
