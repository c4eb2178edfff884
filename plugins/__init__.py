"""Platform plugins shipped with the marketplace (package ``govmarket_plugins``)."""
