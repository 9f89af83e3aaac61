from django.apps import AppConfig


class NotifierConfig(AppConfig):
    name = "notifier"

    def ready(self) -> None:
        # Connect the fan-out to the domain signals (sent after commit only).
        from notifier import receivers  # noqa: PLC0415 - apps must be loaded first

        receivers.connect()
