"""Settings come from env over file over defaults; a bad value names its key and the rule."""

from __future__ import annotations

import pytest

from core.config import ROOT, ConfigError, Settings, load_settings


@pytest.fixture
def toml_file(tmp_path, monkeypatch):
    path = tmp_path / "pulseboard.toml"
    monkeypatch.setenv("PULSEBOARD_CONFIG", str(path))
    return path


def test_defaults(toml_file, monkeypatch):
    monkeypatch.delenv("PULSEBOARD_DEMO", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///data/pulseboard.db"
    assert settings.resolved_database_url == f"sqlite:///{ROOT / 'data' / 'pulseboard.db'}"
    assert settings.demo is True and settings.max_batch_items == 50_000


def test_environment_beats_file_beats_default(toml_file, monkeypatch):
    toml_file.write_text('max_batch_items = 10\nmax_labels = 5\ndatabase_url = "postgresql://u@h/db"\n')
    monkeypatch.setenv("PULSEBOARD_MAX_BATCH_ITEMS", "20")
    settings = load_settings()
    assert settings.max_batch_items == 20 and settings.max_labels == 5
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("PULSEBOARD_MAX_BATCH_ITEMS", "lots", "PULSEBOARD_MAX_BATCH_ITEMS"),
        ("PULSEBOARD_SYSTEM_INTERVAL_S", "0.1", "greater than or equal to 1"),
        ("PULSEBOARD_DATABASE_URL", "mysql://x", "must start with sqlite:/// or postgresql+psycopg://"),
        ("PULSEBOARD_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("PULSEBOARD_DEMO", "maybe", "PULSEBOARD_DEMO"),
    ],
)
def test_invalid_value_names_key_and_rule(toml_file, monkeypatch, env, value, expected):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert expected in str(error.value) and repr(value) in str(error.value)


def test_unknown_key_in_file_is_refused(toml_file):
    toml_file.write_text("max_batch_itmes = 10\n")
    with pytest.raises(ConfigError, match="max_batch_itmes"):
        load_settings()


def test_malformed_file_is_refused(toml_file):
    toml_file.write_text("max_batch_items = = 10\n")
    with pytest.raises(ConfigError, match="configuration file"):
        load_settings()


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"PULSEBOARD_{name.upper()}" not in doc]
    assert missing == [], f"undocumented settings: {missing}"


@pytest.mark.parametrize("key", ["METRIC_NAME_PATTERN", "LABEL_NAME_PATTERN"])
def test_invalid_name_pattern_stops_start_up_naming_the_key(toml_file, monkeypatch, key):
    monkeypatch.setenv(f"PULSEBOARD_{key}", "[a-z")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert f"PULSEBOARD_{key}" in str(error.value) and "not a valid regular expression" in str(error.value)
