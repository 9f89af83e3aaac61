"""Settings package: ``base`` holds everything, read from the environment."""

from neonchat.settings.base import *  # noqa: F403
