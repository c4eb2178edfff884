"""Test set-up: the entry package on sys.path, and the marketplace's module test kit (its
``ctx.call`` answers sub-calls from the examples of the modules beside this one)."""
from marketplace.testing import add_module_to_path, check_contract, ctx, manifest, subcalls  # noqa: F401

add_module_to_path(__file__)
