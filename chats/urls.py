from django.urls import path

from chats import apis

urlpatterns = [
    path("chats", apis.ChatListCreateApi.as_view(), name="chats"),
    path("chats/<uuid:chat_id>", apis.ChatDetailApi.as_view(), name="chat-detail"),
    path("chats/<uuid:chat_id>/read", apis.ChatReadApi.as_view(), name="chat-read"),
    path("chats/<uuid:chat_id>/members", apis.ChatMembersApi.as_view(), name="chat-members"),
    path("chats/<uuid:chat_id>/members/<uuid:user_id>", apis.ChatMemberApi.as_view(), name="chat-member"),
]
