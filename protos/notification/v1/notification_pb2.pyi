from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class SendMessageRequest(_message.Message):
    __slots__ = (
        "chat_id",
        "created_at",
        "message_id",
        "metadata",
        "recipient_ids",
        "sender_id",
        "seq",
        "text",
        "timestamp",
        "updated_at",
    )
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: str | None = ..., value: str | None = ...) -> None: ...

    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_IDS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    chat_id: str
    sender_id: str
    text: str
    timestamp: int
    metadata: _containers.ScalarMap[str, str]
    seq: int
    created_at: str
    updated_at: str
    recipient_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(
        self,
        message_id: str | None = ...,
        chat_id: str | None = ...,
        sender_id: str | None = ...,
        text: str | None = ...,
        timestamp: int | None = ...,
        metadata: _Mapping[str, str] | None = ...,
        seq: int | None = ...,
        created_at: str | None = ...,
        updated_at: str | None = ...,
        recipient_ids: _Iterable[str] | None = ...,
    ) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("delivered_to", "error_message", "failed_users", "success")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TO_FIELD_NUMBER: _ClassVar[int]
    FAILED_USERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    delivered_to: int
    failed_users: _containers.RepeatedScalarFieldContainer[str]
    error_message: str
    def __init__(
        self,
        success: bool | None = ...,
        delivered_to: int | None = ...,
        failed_users: _Iterable[str] | None = ...,
        error_message: str | None = ...,
    ) -> None: ...

class ValidateChatAccessRequest(_message.Message):
    __slots__ = ("chat_id", "user_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: str | None = ..., chat_id: str | None = ...) -> None: ...

class ValidateChatAccessResponse(_message.Message):
    __slots__ = ("error_message", "has_access")
    HAS_ACCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    has_access: bool
    error_message: str
    def __init__(self, has_access: bool | None = ..., error_message: str | None = ...) -> None: ...

class GetUsersStatusRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Iterable[str] | None = ...) -> None: ...

class UserStatus(_message.Message):
    __slots__ = ("last_seen", "status", "user_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    status: str
    last_seen: int
    def __init__(self, user_id: str | None = ..., status: str | None = ..., last_seen: int | None = ...) -> None: ...

class GetUsersStatusResponse(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[UserStatus]
    def __init__(self, statuses: _Iterable[UserStatus | _Mapping] | None = ...) -> None: ...

class BroadcastSystemMessageRequest(_message.Message):
    __slots__ = ("metadata", "text", "user_ids")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: str | None = ..., value: str | None = ...) -> None: ...

    TEXT_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    text: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(
        self,
        text: str | None = ...,
        user_ids: _Iterable[str] | None = ...,
        metadata: _Mapping[str, str] | None = ...,
    ) -> None: ...

class BroadcastSystemMessageResponse(_message.Message):
    __slots__ = ("delivered_to", "success")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TO_FIELD_NUMBER: _ClassVar[int]
    success: bool
    delivered_to: int
    def __init__(self, success: bool | None = ..., delivered_to: int | None = ...) -> None: ...
