"""The web client follows the server: the page's own origin, or the gateway URL the api serves."""

from __future__ import annotations

import pytest
from django.test import Client


def test_without_a_public_ws_url_the_page_uses_its_own_origin(settings) -> None:
    settings.PUBLIC_WS_URL = ""
    page = Client().get("/").content.decode()
    assert "NEONCHAT_WS" not in page


@pytest.mark.parametrize("url", ["ws://127.0.0.1:9182/ws", "wss://chat.example/ws?x=</script>"])
def test_the_api_tells_the_page_where_the_gateway_is(settings, url: str) -> None:
    settings.PUBLIC_WS_URL = url
    page = Client().get("/").content.decode()
    head = page.split("</head>")[0]
    assert "window.NEONCHAT_WS = " in head
    assert "</script>?" not in page and page.count("</script>") == head.count("</script>")
    if "<" not in url:
        assert f'window.NEONCHAT_WS = "{url}";' in head


def test_the_script_has_no_fixed_gateway_port() -> None:
    from django.conf import settings

    script = (settings.BASE_DIR / "web" / "app.js").read_text()
    assert ":8082" not in script and ":8080" not in script
