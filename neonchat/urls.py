from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from neonchat import browsable, health
from neonchat.webclient import web_client

api_v1: list[URLPattern | URLResolver] = [
    path("", browsable.ApiRootApi.as_view(), name="api-root"),
    path("", include("accounts.urls")),
    path("", include("chats.urls")),
    path("", include("messaging.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api-auth/", include(browsable)),
    path("admin/", admin.site.urls),
    # Embedded mode only: manage.py broadcast relays through the server (notifier/relay.py).
    path("internal/", include("notifier.urls")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("", include("django_prometheus.urls")),
    path("", web_client, name="web-client"),
]

handler400 = "neonchat.rest.json_400"
handler403 = "neonchat.rest.json_403"
handler404 = "neonchat.rest.json_404"
handler500 = "neonchat.rest.json_500"
