"""The soak reuses the security area's populated marketplace and live gunicorn server."""
from tests.security.conftest import cheap_passwords, live_server, world  # noqa: F401
