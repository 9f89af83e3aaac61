"""``ModelSerializer``s, nested the way the DRF tutorial nests them."""

from rest_framework import serializers

from bench.restbaseline.models import ChatMember, Message, User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "avatar_url", "status", "created_at"]


class PartnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "chat_id", "sender_id", "text", "seq", "created_at", "updated_at"]


class LastMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "text", "sender_id", "created_at"]


class ChatSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="chat_id")
    partner = PartnerSerializer()
    last_message = LastMessageSerializer(source="chat.last_message", allow_null=True)
    unread_count = serializers.SerializerMethodField()
    last_seq = serializers.IntegerField(source="chat.last_seq")
    updated_at = serializers.DateTimeField(source="chat.updated_at")

    class Meta:
        model = ChatMember
        fields = ["id", "partner", "last_message", "unread_count", "last_seq", "updated_at"]

    def get_unread_count(self, member: ChatMember) -> int:
        return max(0, member.chat.last_seq - member.last_read_seq)
