"""Test set-up: the entry package on sys.path, and the marketplace's module test kit."""
from marketplace.testing import add_module_to_path, check_contract, ctx, manifest, subcalls  # noqa: F401

add_module_to_path(__file__)
