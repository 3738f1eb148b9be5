"""Users, lock-out, first run, roles and redaction on both backends; no Streamlit involved."""

from __future__ import annotations

import stat

import pytest

from core.auth import audit, users
from core.auth.access import ACTIONS, ROLE_PERMISSIONS, Viewer, can, may_open, pages_for_viewer, redact
from core.auth.catalogue import PAGES, ROLES
from core.ingest import ingest
from core.kpis.review_costs import review_costs
from core.model import Batch, Event, now_ms
from core.ui.export import csv_bytes

PASSWORD = "correct horse battery"


def actions_of(engine):
    return audit.entries(engine)["action"].to_list()


def test_password_is_stored_as_bcrypt_hash_and_checked(engine):
    users.create_user(engine, "Dana", PASSWORD, ["developer"], must_change_password=False)
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT password_hash FROM users WHERE username = 'dana'").scalar_one()
    assert stored.startswith("$2b$") and PASSWORD not in stored
    assert users.authenticate(engine, "dana", PASSWORD).ok
    assert users.authenticate(engine, " DANA ", PASSWORD).ok
    assert not users.authenticate(engine, "dana", PASSWORD + "x").ok


@pytest.mark.parametrize("password", ["short", " leading space is bad", "x" * 73])
def test_weak_or_unhashable_passwords_are_refused(engine, password):
    with pytest.raises(users.UserError):
        users.create_user(engine, "erin", password, ["developer"])


def test_brute_force_is_slowed_by_a_growing_lockout(engine):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    t = 1_000_000_000_000
    delays = [
        users.authenticate(engine, "dana", f"guess-{i}", "10.0.0.9", now=t + i * 3_600_000).retry_after_s
        for i in range(6)
    ]
    assert delays == [0, 0, 2, 4, 8, 16]  # three free attempts, then doubling
    last = t + 5 * 3_600_000
    locked = users.authenticate(engine, "dana", PASSWORD, now=last + 15_000)
    assert not locked.ok and locked.reason == "locked" and 0 < locked.retry_after_s <= 1
    assert users.authenticate(engine, "dana", PASSWORD, now=last + 16_000).ok  # the right password after the wait
    assert (
        users.authenticate(engine, "dana", "wrong again", now=last + 17_000).retry_after_s == 0
    )  # success reset the count
    assert actions_of(engine).count(audit.LOGIN_FAILED) == 7 and audit.LOGIN_LOCKED in actions_of(engine)
    failed = audit.entries(engine, actions=(audit.LOGIN_FAILED,))
    assert set(failed["address"].drop_nulls()) == {"10.0.0.9"}


def test_lockout_is_capped_and_unknown_names_are_throttled_too(engine):
    delays = [
        users.authenticate(engine, "nobody", "x" * 12, now=i * 10_000_000, max_delay_s=30).retry_after_s
        for i in range(8)
    ]
    assert delays[-1] == 30 and max(delays) == 30


def test_disabled_user_cannot_log_in(engine):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    users.update_user(engine, "dana", disabled=True, actor="root")
    result = users.authenticate(engine, "dana", PASSWORD)
    assert not result.ok and result.reason == "disabled"
    assert "dana" not in users.credentials(engine)["usernames"]


def test_first_run_creates_admin_with_a_random_password_that_works_once(engine, tmp_path):
    password = users.ensure_first_admin(engine, tmp_path)
    assert password is not None and len(password) >= 20
    path = tmp_path / users.FIRST_PASSWORD_FILE
    assert path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert users.ensure_first_admin(engine, tmp_path) is None  # only on an empty users table
    first = users.authenticate(engine, "admin", password)
    assert first.ok and first.user is not None and first.user.must_change_password
    users.store_password_hash(engine, "admin", users.hash_password("a brand new secret"))
    users.forget_first_password(tmp_path)
    assert not users.authenticate(engine, "admin", password).ok
    assert users.authenticate(engine, "admin", "a brand new secret").user.must_change_password is False
    assert not path.exists()


def test_two_installations_get_different_first_passwords(sqlite_engine, pg_engine, tmp_path):
    assert users.ensure_first_admin(sqlite_engine, tmp_path / "a") != users.ensure_first_admin(
        pg_engine, tmp_path / "b"
    )


def test_admin_cannot_lock_themselves_out(engine):
    users.create_user(engine, "root", PASSWORD, ["admin"])
    with pytest.raises(users.UserError):
        users.update_user(engine, "root", disabled=True, actor="root")
    with pytest.raises(users.UserError):
        users.update_user(engine, "root", roles=["developer"], actor="root")


def test_user_changes_are_audited_with_actor_and_address(engine):
    users.create_user(engine, "dana", PASSWORD, ["developer"], actor="root", address="10.1.1.1")
    users.update_user(engine, "dana", roles=["developer", "qa_lead"], actor="root", address="10.1.1.1")
    users.set_password(engine, "dana", "another long secret", must_change=True, actor="root")
    frame = audit.entries(engine, actor="root")
    assert frame["action"].to_list() == [audit.USER_PASSWORD_RESET, audit.USER_UPDATED, audit.USER_CREATED]
    assert frame["target"].unique().to_list() == ["dana"]
    assert b"user_created" in csv_bytes(frame)


def test_admin_has_every_action_and_every_page():
    admin = Viewer.of("root", ["admin"])
    assert all(can(admin, action) for action in ACTIONS)
    assert pages_for_viewer(admin) == list(PAGES)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_exactly_its_catalogue_pages(role):
    viewer = Viewer.of("someone", [role])
    assert {p.slug for p in PAGES if may_open(viewer, p.slug)} == {p.slug for p in PAGES if role in p.roles}
    assert {a for a in ACTIONS if can(viewer, a)} == ROLE_PERMISSIONS[role]


def test_permission_map_matches_the_issue():
    holders = {action: {role for role in ROLES if action in ROLE_PERMISSIONS[role]} for action in ACTIONS}
    assert holders["acknowledge_alerts"] == {"operations", "admin"}
    assert holders["acknowledge_quality_alerts"] == {"operations", "qa_lead", "admin"}
    assert holders["edit_rules"] == holders["edit_slas"] == {"operations", "admin"}
    assert holders["manage_quality_gates"] == {"qa_lead", "admin"}
    assert holders["export_reports"] == {"executive", "operations", "qa_lead", "admin"}
    assert holders["view_audit_log"] == {"operations", "admin"}
    assert holders["manage_users"] == holders["manage_tokens"] == {"admin"}


def completed(i, cost, reviewer, repo="org/api"):
    return Event(
        f"wf-{i}",
        "workflow.workflow_completed",
        now_ms() - 60_000,
        "qms",
        {"repository": repo, "reviewer": reviewer, "cost_usd": cost},
    )


@pytest.fixture
def reviews(engine):
    ingest(
        engine,
        Batch(events=(completed(1, 10.0, "ann"), completed(2, 30.0, "bob"), completed(3, 5.0, "ann", "org/web"))),
        origin="test",
    )
    return engine


def test_developer_data_calls_never_contain_cost_or_person_fields(reviews):
    developer = Viewer.of("dev", ["developer"])
    frame = review_costs(reviews, developer, 0, now_ms())
    assert frame.columns == ["repository", "reviews"]
    assert frame.rows() == [("org/api", 2), ("org/web", 1)]
    assert not any("cost" in c or "reviewer" in c for c in frame.columns)


def test_executive_sees_cost_per_review_and_per_reviewer(reviews):
    frame = review_costs(reviews, Viewer.of("ceo", ["executive"]), 0, now_ms())
    assert frame.columns == ["repository", "reviewer", "reviews", "cost_total_usd", "cost_per_review_usd"]
    assert frame.filter(repository="org/api", reviewer="bob").row(0) == ("org/api", "bob", 1, 30.0, 30.0)


def test_operations_sees_costs_only_where_allowed(reviews):
    frame = review_costs(reviews, Viewer.of("ops", ["operations"]), 0, now_ms())
    assert "reviewer" not in frame.columns and not any("cost" in c for c in frame.columns)


def test_redact_drops_sensitive_columns_by_word():
    import polars as pl

    frame = pl.DataFrame(
        {
            "team": ["a"],
            "review_cost_usd": [1.0],
            "cost": [2.0],
            "per_person_hours": [3.0],
            "costume": ["x"],
            "reviewer": ["ann"],
        }
    )
    assert redact(frame, Viewer.of("d", ["developer"])).columns == ["team", "costume"]
    assert redact(frame, Viewer.of("q", ["qa_lead"])).columns == ["team", "per_person_hours", "costume", "reviewer"]


def test_hidden_by_names_the_permission_a_viewer_lacks_for_a_metric_or_label():
    from core.auth.access import hidden_by

    developer, qa, executive = Viewer.of("d", ["developer"]), Viewer.of("q", ["qa_lead"]), Viewer.of("e", ["executive"])
    assert hidden_by("review_cost_usd_total", developer) == "view_costs"
    assert hidden_by("reviewer", developer) == "view_people"
    assert hidden_by("reviewer", qa) is None and hidden_by("review_cost_usd_total", qa) == "view_costs"
    assert hidden_by("review_cost_usd_total", executive) is None and hidden_by("costume_total", developer) is None
    assert hidden_by("cpu_percent", None) is None and hidden_by("author", None) == "view_people"
