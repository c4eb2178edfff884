"""Print observed matrix codes (exploration only)."""
import pytest
from tests.security.test_authz_matrix import API, PAGES, api_codes, page_codes

@pytest.fixture
def app(app):
    app.config.update(WTF_CSRF_ENABLED=False, STRIPE_API_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_x")
    return app

def test_explore(world):
    for row in API:
        print("API", row[0], row[1], api_codes(world, *row[:5]))
    for row in PAGES:
        print("PAGE", row[0], row[1], page_codes(world, *row[:5]))
