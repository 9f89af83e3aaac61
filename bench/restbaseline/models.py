"""NeonChat's tables as a tutorial's models would map them (unmanaged: NeonChat owns the schema)."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models


class User(AbstractBaseUser):
    id = models.UUIDField(primary_key=True)
    username = models.CharField(max_length=50, unique=True)
    password = models.CharField(max_length=256, db_column="password_hash")
    email = models.EmailField(max_length=255, null=True)
    avatar_url = models.TextField(blank=True)
    status = models.CharField(max_length=20)
    created_at = models.DateTimeField()

    USERNAME_FIELD = "username"

    class Meta:
        managed = False
        db_table = "users"


class Message(models.Model):
    id = models.UUIDField(primary_key=True)
    chat = models.ForeignKey("Chat", on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    text = models.TextField()
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "messages"


class Chat(models.Model):
    id = models.UUIDField(primary_key=True)
    last_seq = models.BigIntegerField()
    last_message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "chats"


class ChatMember(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    partner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "chat_members"
