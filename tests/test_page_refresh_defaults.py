"""Each role page opens with the refresh interval DESIGN.md gives it ("Pages and who sees them" table)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import users
from core.auth.access import Viewer
from core.auth.catalogue import page as page_spec
from core.config import ROOT
from core.query.timewindow import REFRESH

# the design document's page table: Overview 30 s, Executive 30 s, Operations 10 s, Developer 15 s, Quality (QA) 15 s
DESIGN_REFRESH_S = {"overview": 30, "executive": 30, "operations": 10, "developer": 15, "qa": 15}
ADMIN = Viewer.of("ada", ["admin"])


@pytest.mark.parametrize(("slug", "seconds"), sorted(DESIGN_REFRESH_S.items()))
def test_the_page_opens_with_its_designed_refresh_interval(app_store, slug, seconds):
    users.create_user(app_store, ADMIN.username, "Correct-Horse-9-battery", ADMIN.roles, must_change_password=False)
    assert page_spec(slug).refresh_s == seconds  # the catalogue the live fragments read
    at = AppTest.from_file(str(ROOT / "pages" / f"{slug}.py"), default_timeout=120)
    at.session_state["viewer"] = ADMIN
    at.session_state["role"] = "admin"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    chosen = at.selectbox(key="refresh").value
    assert REFRESH[chosen] == seconds, f"{slug} opens refreshing every {REFRESH[chosen]} s, DESIGN.md says {seconds} s"
