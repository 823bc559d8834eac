"""Log query parameters docker's clients could send that are not numbers the logs API carries:
a 400 naming the parameter, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.unit.docker_api.test_requests import V, create, web_spec


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("tail=²", "invalid tail '²': expected a number or all", id="tail-superscript"),
        pytest.param(
            f"tail={2**64}",
            f"invalid tail '{2**64}': expected a number or all",
            id="tail-above-uint64",
        ),
        pytest.param(
            "tail=" + "9" * 5000,
            f"invalid tail '{'9' * 5000}': expected a number or all",
            id="tail-of-5000-digits",
        ),
        pytest.param("since=²", "invalid time '²': expected Unix seconds", id="since-superscript"),
        pytest.param("since=1.²", "invalid time '1.²': expected Unix seconds", id="since-fraction"),
        pytest.param(
            f"since={2**64}",
            f"invalid time '{2**64}': expected Unix seconds",
            id="since-out-of-range",
        ),
    ],
)
async def test_a_log_parameter_that_is_no_number_in_range_is_400(
    api: httpx.AsyncClient, query: str, message: str
) -> None:
    service_id = await create(api, web_spec())
    answer = await api.get(f"{V}/services/{service_id}/logs?stdout=1&{query}")
    assert answer.status_code == 400
    assert answer.json() == {"message": message}


async def test_the_largest_tail_is_accepted(api: httpx.AsyncClient) -> None:
    service_id = await create(api, web_spec())
    answer = await api.get(f"{V}/services/{service_id}/logs?stdout=1&tail={2**64 - 1}")
    assert answer.status_code == 200
