"""``python -m bench.restbaseline.mint_token USER_ID``: a simplejwt access token for that user.

What the tutorial's ``/api/token/`` would give; minted here because NeonChat's
password hasher is NeonChat's own code, which the baseline does not import.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.restbaseline.settings")

import django

django.setup()

from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from bench.restbaseline.models import User  # noqa: E402

print(AccessToken.for_user(User(id=sys.argv[1])))
