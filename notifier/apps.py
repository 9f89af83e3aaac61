from django.apps import AppConfig


class NotifierConfig(AppConfig):
    name = "notifier"

    def ready(self) -> None:
        # Connect the fan-out to the domain signals (sent after commit only).
        from neonchat import health  # noqa: PLC0415 - apps must be loaded first
        from notifier import receivers  # noqa: PLC0415
        from notifier.client import notifier_serving  # noqa: PLC0415

        receivers.connect()
        health.register_degrading_check("notification_service", notifier_serving)
