"""Schemathesis against the OpenAPI document of the real running app, on loopback.

The server (tests/live.py) holds a day of the demo workload; the token belongs to an admin
and has every scope, so every operation is reached past authentication. For each operation
schemathesis generates requests from the published schema (15 examples each, to stay
within a minute or two) and checks the answers: never a 5xx, a body that matches the
response schema the document declares, and a declared content type. The read API's
operations (tag ``read``) must also answer only status codes the document lists for them,
and refuse every request the schema calls invalid with a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as oa_checks
from sqlalchemy.engine import Engine

from collectors.demo import DemoCollector
from core.auth.tokens import create_token
from core.auth.users import create_user
from core.config import load_settings
from tests.live import live_server

pytestmark = pytest.mark.timeout(300)
TOKEN: dict[str, str] = {}
SCHEMA_CHECKS = [
    st_checks.not_a_server_error,
    oa_checks.response_schema_conformance,
    oa_checks.content_type_conformance,
]
READ_CHECKS = [*SCHEMA_CHECKS, oa_checks.status_code_conformance]
# A schema-invalid request must be refused (4xx, never a 5xx). Its answer may come from outside the API: a path
# parameter holding a newline or a slash matches no route, and the server's router answers a plain-text 404.
NEGATIVE_CHECKS = [st_checks.not_a_server_error, oa_checks.negative_data_rejection]


def _prepare(store: Engine, tmp: Path) -> None:
    settings = load_settings(database_url=str(store.url), data_dir=tmp, collectors=False)
    DemoCollector(store, settings, seed=7, backfill_days=1).collect()
    create_user(store, "root", "correct horse battery staple", ["admin"], must_change_password=False)
    TOKEN["secret"] = create_token(store, "schemathesis", ["ingest", "read", "admin"], "root")[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    tmp = tmp_path_factory.mktemp("schema-api")
    with live_server(tmp, env={"PULSEBOARD_COLLECTORS": "0"}, prepare=lambda store: _prepare(store, tmp)) as live:
        yield live


def test_every_operation_answers_within_its_schema(server):
    """One hypothesis run per operation of the live document; every failure is collected, then reported."""
    document = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {TOKEN['secret']}"}
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    labels = []
    runs = []
    for found in document.get_all_operations():
        operation = found.ok()
        labels.append(operation.label)
        if "read" in (operation.tags or []):  # also requests the schema calls invalid: each must get a 4xx
            runs += [
                (operation, GenerationMode.POSITIVE, READ_CHECKS),
                (operation, GenerationMode.NEGATIVE, NEGATIVE_CHECKS),
            ]
        else:
            runs.append((operation, GenerationMode.POSITIVE, SCHEMA_CHECKS))
    for operation, mode, chosen in runs:

        @hypothesis.given(operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def check(case):
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate(base_url=f"{server.url}/api", headers=headers, checks=chosen, timeout=60)  # noqa: B023 - run in this iteration

        try:
            check()
        except hypothesis.errors.Unsatisfiable:  # no parameter and no body: no invalid request to make
            continue
        except (Exception, BaseExceptionGroup) as error:  # collected and reported below, per operation
            failures[f"{operation.label} ({mode.value})"] = str(error)[:3000]
    for label, text in failures.items():
        print(f"--- {label}\n{text}\n")
    assert len(labels) >= 20, labels  # the read API's operations are in the document
    assert failures == {}
    assert set(calls) == set(labels), set(labels) - set(calls)  # every operation was exercised
