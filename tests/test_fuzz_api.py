"""Schemathesis against a live server's /openapi.json: no 5xx, every answer matches its documented schema.

A few hundred cases here (about 25 per operation, each also sent once steered onto the tiny model so it
reaches past the 404s); the 10,000-case run is in docs/reliability.md.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import LiveServer
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
KNOWN = {"model_id": "tiny", "project": "tiny", "model": "tiny", "layer": "layer4", "concept": "tree"}


@pytest.fixture(scope="module")
def live_schema(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("fuzz")) as server:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json")


def steer(case) -> bool:
    """Point the case at things that exist (model, layer, concept); False if there was nothing to point."""
    changed = False
    for part in (case.path_parameters, case.query, case.body):
        if isinstance(part, dict):
            for key, value in KNOWN.items():
                if key in part and part[key] != value:
                    part[key] = value
                    changed = True
    return changed


def test_api(live_schema):
    operations = [op.ok() for op in live_schema.get_all_operations()]
    assert len(operations) >= 11
    counts = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            label = case.operation.label
            case.call_and_validate(checks=CHECKS)
            counts[label] = counts.get(label, 0) + 1
            if steer(case):
                case.call_and_validate(checks=CHECKS)
                counts[label] += 1

        run()
    assert sum(counts.values()) >= 200, counts
