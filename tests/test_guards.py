"""api/guards: one ``Guards`` per app, built from the app's one ``Settings``; routes declare what they carry."""

from __future__ import annotations

from api_helpers import tiny_settings

from ganpaint.api.app import create_app
from ganpaint.api.guards import GUARDS_STATE


def test_one_guards_object_per_app_from_its_settings(tmp_path):
    settings = tiny_settings(tmp_path, max_mask_backlog=1234, max_rest_images=5, refusal_delay=0.3)
    a, b = create_app(settings), create_app(tiny_settings(tmp_path))
    guards = a.state.guards
    assert guards.settings is a.state.settings is settings
    assert guards.lanes.max_backlog == 1234 and guards.render_gate.limit == 5
    assert guards.shed.lanes is guards.lanes and guards.origin.refused is guards.refused
    assert guards.lifespan_state() == {GUARDS_STATE: guards}
    guards.refused.note("10.0.0.9")
    assert b.state.guards.refused.age("10.0.0.9") == float("inf")  # nothing shared between apps
    assert b.state.guards.lanes is not guards.lanes


def test_routes_declare_that_they_carry_masks_or_read_their_body(tmp_path):
    guards = create_app(tiny_settings(tmp_path, max_upload_bytes=5000)).state.guards
    assert guards.shed.paths == {"/intervene", "/api/generate"}  # @carries_masks on their handlers
    assert guards.streamed == {"/uploads": 5000}  # @reads_body_itself("max_upload_bytes")


def test_with_cors_the_middleware_sheds_not_the_protocol(tmp_path):
    assert create_app(tiny_settings(tmp_path)).state.guards.protocol_sheds
    cors = create_app(tiny_settings(tmp_path, cors_origins="https://a.org")).state.guards
    assert not cors.protocol_sheds and cors.cors_origins == ["https://a.org"]
