"""Bad input, driven by the app's own OpenAPI document, against the live app: never a 5xx, every
refusal a 4xx with a reason, every answer as the document says.

Each operation's cases come from schemathesis' strategy for it (pytest 9 breaks schemathesis'
lazy `from_fixture` loader, which reads a private attribute of pytest's nodes).
"""

from collections.abc import Callable

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from ioc.accounts import Role
from tests.ioc.conftest import PASSWORD, LiveApp, publish_warning, wait_for, warning_message

EXAMPLES_PER_OPERATION = 40


def test_no_input_breaks_the_api(live_app: LiveApp, publish: Callable[[str, bytes, bool], None]) -> None:
    live_app.add_user("admin", Role.admin)
    publish_warning(publish, warning_message(level=2))  # something to act on: warning 1
    wait_for(lambda: live_app.desk.feed.outcomes["raised"] == 1, what="a warning to act on")
    login = httpx.post(f"{live_app.url}/api/login", json={"username": "admin", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.headers['x-session-token']}"}
    schema = schemathesis.openapi.from_url(f"{live_app.url}/openapi.json")
    # /api/events streams for ever; /api/logout would end the token the test runs with (both tested elsewhere)
    schema = schema.exclude(path=["/api/events", "/api/logout"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_5xx(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers)
            assert response.status_code < 500
            if response.status_code >= 400:
                assert response.json()["detail"], "a refusal says why"

        no_5xx()
