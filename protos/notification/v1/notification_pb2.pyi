from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SendMessageRequest(_message.Message):
    __slots__ = ("message_id", "chat_id", "sender_id", "text", "timestamp", "metadata", "seq", "created_at", "updated_at", "recipient_ids", "kind", "event_json", "delivered_by", "delivered_connection_ids")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
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
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_JSON_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_BY_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_CONNECTION_IDS_FIELD_NUMBER: _ClassVar[int]
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
    kind: str
    event_json: str
    delivered_by: str
    delivered_connection_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, message_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., sender_id: _Optional[str] = ..., text: _Optional[str] = ..., timestamp: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., seq: _Optional[int] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., recipient_ids: _Optional[_Iterable[str]] = ..., kind: _Optional[str] = ..., event_json: _Optional[str] = ..., delivered_by: _Optional[str] = ..., delivered_connection_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("success", "delivered_to", "failed_users", "error_message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TO_FIELD_NUMBER: _ClassVar[int]
    FAILED_USERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    delivered_to: int
    failed_users: _containers.RepeatedScalarFieldContainer[str]
    error_message: str
    def __init__(self, success: _Optional[bool] = ..., delivered_to: _Optional[int] = ..., failed_users: _Optional[_Iterable[str]] = ..., error_message: _Optional[str] = ...) -> None: ...

class SendMessagesRequest(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[SendMessageRequest]
    def __init__(self, messages: _Optional[_Iterable[_Union[SendMessageRequest, _Mapping]]] = ...) -> None: ...

class SendMessagesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SendMessageResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SendMessageResponse, _Mapping]]] = ...) -> None: ...

class ValidateChatAccessRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class ValidateChatAccessResponse(_message.Message):
    __slots__ = ("has_access", "error_message")
    HAS_ACCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    has_access: bool
    error_message: str
    def __init__(self, has_access: _Optional[bool] = ..., error_message: _Optional[str] = ...) -> None: ...

class GetUsersStatusRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UserStatus(_message.Message):
    __slots__ = ("user_id", "status", "last_seen")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    status: str
    last_seen: int
    def __init__(self, user_id: _Optional[str] = ..., status: _Optional[str] = ..., last_seen: _Optional[int] = ...) -> None: ...

class GetUsersStatusResponse(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[UserStatus]
    def __init__(self, statuses: _Optional[_Iterable[_Union[UserStatus, _Mapping]]] = ...) -> None: ...

class BroadcastSystemMessageRequest(_message.Message):
    __slots__ = ("text", "user_ids", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    text: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, text: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BroadcastSystemMessageResponse(_message.Message):
    __slots__ = ("success", "delivered_to")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TO_FIELD_NUMBER: _ClassVar[int]
    success: bool
    delivered_to: int
    def __init__(self, success: _Optional[bool] = ..., delivered_to: _Optional[int] = ...) -> None: ...
