from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        # The heartbeat's offline/back-online callbacks tell the partners.
        from messaging import presence  # noqa: PLC0415 - apps must be loaded first

        presence.connect()
