"""Settings package: ``base`` holds everything, read from the environment.

A bad value stops the process here with one line naming the variable, no traceback.
"""

import sys

from neonchat.config import ConfigError

try:
    from neonchat.settings.base import *  # noqa: F403
except ConfigError as error:
    sys.stderr.write(f"neonchat: configuration error: {error}\n")
    raise SystemExit(2) from None
