"""Generic views: ``RetrieveAPIView`` for the caller, ``ListAPIView`` for chats and a chat's messages."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from rest_framework import generics

from bench.restbaseline.models import ChatMember, Message, User
from bench.restbaseline.serializers import ChatSerializer, MessageSerializer, UserSerializer


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


class MeView(generics.RetrieveAPIView[User]):
    serializer_class = UserSerializer

    def get_object(self) -> Any:
        return self.request.user


class ChatList(generics.ListAPIView[ChatMember]):
    serializer_class = ChatSerializer

    def get_queryset(self) -> QuerySet[ChatMember]:
        # select_related as the Django docs advise, so the page is not one query per chat.
        return (
            ChatMember.objects.filter(user=self.request.user)
            .select_related("chat", "chat__last_message", "partner")
            .order_by("-chat__updated_at")
        )


class MessageList(generics.ListAPIView[Message]):
    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        return Message.objects.filter(chat_id=self.kwargs["chat_id"], chat__members__user=self.request.user).order_by(
            "-seq"
        )
