"""Run the app under gunicorn with real worker processes."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


class MarketplaceServer(BaseApplication):
    """Gunicorn application that builds the Flask app in each worker."""

    def __init__(self, options: dict, factory=None) -> None:
        self.options = options
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        """Copy our options into gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the WSGI app (after fork, so every worker has its own engine)."""
        if self.factory is not None:
            return self.factory()
        from marketplace import create_app

        return create_app()


def serve(host: str, port: int, workers: int, factory=None, **extra) -> None:
    """Serve on host:port with ``workers`` sync workers (threads for slow module calls)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
               "threads": 4, "timeout": 60, "accesslog": None, "errorlog": "-",
               "loglevel": "warning", **extra}
    MarketplaceServer(options, factory).run()
