"""Saved dashboards on SQLite and Postgres: per user, shared with roles, one default per role, versions that refuse
a stale save, every change in the audit log; provisioning a folder loads the good files and reports the bad one."""

from __future__ import annotations

import json
import shutil

import pytest

from core.auth import audit
from core.auth.access import Viewer
from core.config import ROOT
from core.dashboards import model, store
from core.dashboards.provision import provision, read_folder

ANA = Viewer.of("ana", ["developer"])
OPS = Viewer.of("olga", ["operations"])
ADMIN = Viewer.of("root", ["admin"])


def board(slug: str = "mine", title: str = "Mine", **extra) -> model.Dashboard:
    return model.validate(
        {
            "schema_version": 2,
            "slug": slug,
            "title": title,
            "widgets": [{"config": {"kind": "trend", "title": "CPU", "source": "metric:cpu_usage_percent"}}],
        }
        | extra
    )


def test_a_dashboard_is_its_owners_until_shared_with_a_role(engine):
    assert store.save(engine, board(), ANA) == 1
    assert [s.slug for s in store.visible(engine, ANA)] == ["mine"]
    assert store.visible(engine, OPS) == []
    assert [s.slug for s in store.visible(engine, ADMIN)] == ["mine"]
    store.share(engine, "mine", ["operations"], ANA)
    assert [s.slug for s in store.visible(engine, OPS)] == ["mine"]
    assert store.visible(engine, Viewer.of("q", ["qa_lead"])) == []
    with pytest.raises(store.Refused, match="it is ana's"):
        store.save(engine, board(title="Taken over"), OPS, expected_version=1)
    with pytest.raises(store.Refused):
        store.delete(engine, "mine", OPS)


def test_saving_again_makes_a_new_version_and_a_stale_save_is_refused(engine):
    store.save(engine, board(), ANA)
    assert store.save(engine, board(title="Renamed"), ANA, expected_version=1) == 2
    saved = store.get(engine, "mine")
    assert saved is not None and (saved.dashboard.title, saved.version) == ("Renamed", 2)
    with pytest.raises(store.Conflict, match="version 2, you started from 1"):
        store.save(engine, board(title="Old tab"), ANA, expected_version=1)
    with pytest.raises(store.Conflict, match="slug 'mine' is taken"):
        store.save(engine, board(), OPS)
    assert store.get(engine, "mine").dashboard == board(title="Renamed")


def test_one_default_per_role_and_a_default_is_shared(engine):
    store.save(engine, board("a", "A"), ANA)
    store.save(engine, board("b", "B"), ADMIN)
    store.share(engine, "a", [], ANA, default_for=["operations"])
    assert store.get(engine, "a").shared_roles == ("operations",)
    assert store.default_for(engine, OPS).slug == "a"
    store.share(engine, "b", ["developer"], ADMIN, default_for=["operations"])
    assert store.get(engine, "a").default_for == ()
    assert store.default_for(engine, OPS).slug == "b"
    assert store.default_for(engine, Viewer.of("e", ["executive"])) is None
    with pytest.raises(ValueError, match="unknown role"):
        store.share(engine, "b", ["wizard"], ADMIN)


def test_every_change_is_audited(engine):
    store.save(engine, board(), ANA)
    store.save(engine, board(title="Two"), ANA, expected_version=1)
    store.share(engine, "mine", ["qa_lead"], ANA)
    store.delete(engine, "mine", ANA)
    rows = audit.entries(engine, actions=(audit.DASHBOARD_CHANGED,))
    changes = sorted(json.loads(d)["change"] if isinstance(d, str) else d["change"] for d in rows["detail"])
    assert changes == ["created", "deleted", "saved", "shared"]
    assert set(rows["actor"]) == {"ana"} and set(rows["target"]) == {"mine"}
    assert store.get(engine, "mine") is None


def test_provisioning_a_folder_with_one_bad_file_loads_the_rest(engine, tmp_path):
    shutil.copy(ROOT / "dashboards" / "qms-wall.json", tmp_path / "wall.json")
    (tmp_path / "team.json").write_text(
        json.dumps(
            board("team", "Team").model_dump(mode="json")
            | {"share": {"roles": ["developer"], "default_for": ["developer"]}}
        )
    )
    broken = board("broken", "Broken").model_dump(mode="json")
    broken["widgets"][0]["config"]["thresholds"]["critical"] = "very"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "notes.txt").write_text("ignored: not a .json file")
    report = provision(engine, tmp_path)
    assert report.changes == {"qms-wall": "created", "team": "created"}
    assert [(p.file, p.field) for p in report.problems] == [
        ("broken.json", "widgets[0].config.thresholds.critical"),
        ("garbage.json", ""),
    ]
    assert "not JSON" in report.problems[1].message
    assert store.default_for(engine, ANA).slug == "team"
    assert store.get(engine, "qms-wall").owner == store.PROVISIONING
    again = provision(engine, tmp_path)
    assert again.changes == {"qms-wall": "unchanged", "team": "unchanged"}


def test_provisioning_never_takes_a_users_slug_and_a_changed_file_is_a_new_version(engine, tmp_path):
    store.save(engine, board("team", "Ana's team"), ANA)
    (tmp_path / "team.json").write_text(json.dumps(board("team", "From file").model_dump(mode="json")))
    (tmp_path / "other.json").write_text(json.dumps(board("other", "One").model_dump(mode="json")))
    report = provision(engine, tmp_path)
    assert report.changes == {"other": "created"}
    assert [(p.file, p.field) for p in report.problems] == [("team.json", "slug")]
    assert store.get(engine, "team").dashboard.title == "Ana's team"
    (tmp_path / "other.json").write_text(json.dumps(board("other", "Two").model_dump(mode="json")))
    assert provision(engine, tmp_path).changes["other"] == "updated"
    assert store.get(engine, "other").version == 2
    with pytest.raises(store.Refused, match="provisioned"):
        store.delete(engine, "other", ANA)


def test_duplicate_slugs_and_bad_sharing_in_files_are_reported(tmp_path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(board("same", "Same").model_dump(mode="json")))
    (tmp_path / "c.json").write_text(json.dumps(board("c").model_dump(mode="json") | {"share": {"roles": ["boss"]}}))
    good, problems = read_folder(tmp_path)
    assert [g.file for g in good] == ["a.json"]
    assert [(p.file, p.field) for p in problems] == [("b.json", "slug"), ("c.json", "share.roles")]
    assert read_folder(tmp_path / "missing") == ([], [])


def test_the_shipped_dashboards_folder_is_valid():
    good, problems = read_folder(ROOT / "dashboards")
    assert problems == []
    assert good, "an example dashboard ships in dashboards/"


def test_a_stored_definition_that_no_longer_validates_is_left_out_not_fatal(engine):

    from core.store.schema import dashboards

    store.save(engine, board("good", "Good"), ANA)
    store.save(engine, board("old", "Old"), ANA)
    with engine.begin() as connection:
        connection.execute(
            dashboards.update()
            .where(dashboards.c.slug == "old")
            .values(definition={"schema_version": 2, "slug": "old"})
        )
    assert [s.slug for s in store.visible(engine, ANA)] == ["good"]
