"""``assistant/ops/worker_db.py`` in this process: an eager task (run inline by its caller,
through Celery's own machinery and its ``task_prerun``/``task_postrun`` signals) must not
close its caller's connection, which here is inside the test's transaction — closing it
would end the caller's transaction half-way. A worker's tasks: ``tests/prod/test_worker_db.py``."""

from __future__ import annotations

import pytest
from django.db import connection

from approvals.tasks import expire_stale_requests
from tests.celery_broker import using_broker


@pytest.mark.django_db
def test_an_eager_task_leaves_its_callers_connection_and_transaction_alone() -> None:
    connection.ensure_connection()
    before = connection.connection
    assert connection.in_atomic_block  # the test's own transaction
    with using_broker("memory://", eager=True):
        assert expire_stale_requests.delay().get() == 0  # ran here, signals and all
    assert connection.connection is before
    assert connection.in_atomic_block
