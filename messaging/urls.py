from django.urls import path

from messaging import apis

urlpatterns = [
    path("messages/search", apis.MessageSearchApi.as_view(), name="messages-search"),
    path("chats/<uuid:chat_id>/messages", apis.MessageListCreateApi.as_view(), name="messages"),
    path("chats/<uuid:chat_id>/messages/<uuid:message_id>", apis.MessageDetailApi.as_view(), name="message-detail"),
]
