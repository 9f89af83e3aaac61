from django.urls import path

from notifier import apis

urlpatterns = [
    path("broadcast", apis.BroadcastRelayApi.as_view(), name="internal-broadcast"),
]
