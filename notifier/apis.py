"""The embedded server's relay for ``manage.py broadcast`` (see :mod:`notifier.relay`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from neonchat import kv
from neonchat.errors import NotFound
from neonchat.fields import StrictCharField
from neonchat.renderers import ORJSONRenderer
from notifier import relay
from notifier.delivery import MAX_USER_IDS
from notifier.services import system_broadcast


class RelayBroadcastSerializer(serializers.Serializer):
    text = StrictCharField(trim_whitespace=False)
    user_ids = serializers.ListField(child=StrictCharField(), max_length=MAX_USER_IDS, default=list)


@extend_schema(exclude=True)
class BroadcastRelayApi(APIView):
    """Not part of the API: 404 outside embedded mode or without the relay key."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    renderer_classes = [ORJSONRenderer]

    def post(self, request: Request) -> Response:
        if not kv.is_embedded() or not relay.valid_key(request.headers.get(relay.HEADER, "")):
            raise NotFound()
        data = RelayBroadcastSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = system_broadcast(text=data.validated_data["text"], user_ids=data.validated_data["user_ids"])
        return Response({"delivered": count})
