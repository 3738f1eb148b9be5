"""Docs that drift from the code are worse than none: every setting and self-metric is documented."""

from __future__ import annotations

from core.config import ROOT
from core.selfmetrics import REGISTRY


def test_every_self_metric_is_documented():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    exposed = {family.name + ("_total" if family.type == "counter" else "") for family in REGISTRY.collect()}
    missing = sorted(name for name in exposed if f"`{name}`" not in doc)
    assert missing == [], f"metrics missing from docs/metrics.md: {missing}"


def test_readme_states_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("## ") or readme.index("make run") < 1500
    assert "make test" in readme


def test_settings_table_is_the_generated_one():
    import subprocess
    import sys

    table = subprocess.run(
        [sys.executable, "scripts/config_table.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert table in (ROOT / "docs" / "configuration.md").read_text(), "run scripts/config_table.py and paste its table"


def _curl_posts(text: str) -> list[str]:
    """Each ``curl -X POST`` command in ``text``, continuation lines joined."""
    import re

    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl -X POST")]


def test_every_documented_post_carries_a_bearer_token():
    for doc in ("README.md", "docs/api.md", "docs/deployment.md"):
        commands = _curl_posts((ROOT / doc).read_text())
        assert commands, f"{doc} shows no curl POST"
        bare = [command for command in commands if '-H "Authorization: Bearer $' not in command]
        assert bare == [], f"{doc}: these examples would get 401 with login on: {bare}"


def test_the_readme_example_needs_the_token_unless_auth_is_off(sqlite_engine, tmp_path):
    import json
    import re

    from fastapi.testclient import TestClient

    from core.api.routes import create_api
    from core.auth.tokens import create_token
    from core.config import load_settings

    command = _curl_posts((ROOT / "README.md").read_text())[0]
    body = json.loads(re.search(r"-d '(.*?)'", command).group(1))
    path = re.search(r"localhost:8501(/\S+)", command).group(1).removeprefix("/api")
    url = sqlite_engine.url.render_as_string(hide_password=False)
    _, token = create_token(sqlite_engine, "docs", ["ingest"], "tests")  # what Admin → API tokens → Create token does
    for auth, headers, status in [("on", {}, 401), ("on", {"Authorization": f"Bearer {token}"}, 200), ("off", {}, 200)]:
        settings = load_settings(database_url=url, data_dir=tmp_path, collectors=False, auth=auth)
        with TestClient(create_api(lambda settings=settings: settings)) as client:
            reply = client.post(path, json=body, headers=headers)
        assert reply.status_code == status, (auth, headers, reply.text)
