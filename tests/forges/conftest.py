"""Shared by the forge adapter tests: a strict ``responses`` mock (every registered reply must be
used, so a test also proves no expected request went missing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
