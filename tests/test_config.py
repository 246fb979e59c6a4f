"""SPEC 5: the configuration file, and config.example.toml documenting every key."""

import re
from pathlib import Path

import pytest

from automation.config import load_config, parse_config
from automation.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CENTER = {"name": "甲", "path": "a.xlsx", "supervisor": {"name": "王", "email": "s@x.cn"},
          "manager": {"name": "李", "email": "m@x.cn"}}


def test_example_config_parses():
    config = load_config(ROOT / "config.example.toml")
    assert config.language == "zh-Hant" and config.escalation.default.manager_after_days == 7


def test_example_config_documents_every_key_the_parser_takes():
    source = (ROOT / "automation" / "config.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'\.(?:take|positive_int|clock_time|choice)\("([a-z_]+)"', source))
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    missing = sorted(k for k in keys
                     if not re.search(rf"(^|[\s#{{,]){k}\s*=|^\[+([a-z_.]+\.)?{k}[\].]", example, re.M))
    assert missing == []


@pytest.mark.parametrize(
    "raw,names",
    [
        ({"centers": [CENTER], "colour": 1}, "colour"),
        ({"centers": [CENTER], "timezone": "Mars/Base"}, "timezone"),
        ({"centers": [CENTER], "language": "en"}, "language"),
        ({"centers": []}, "centers"),
        ({"centers": [CENTER], "escalation": {"day_basis": "lunar"}}, "escalation.day_basis"),
        ({"centers": [CENTER], "escalation": {"supervisor_after_days": "2"}}, "escalation.supervisor_after_days"),
        ({"centers": [CENTER], "escalation": {"categories": {"雜項": {}}}}, "escalation.categories.雜項"),
        ({"centers": [CENTER], "schedule": {"daily_digest_at": "8點半"}}, "schedule.daily_digest_at"),
        ({"centers": [CENTER], "mail": {"transport": "smtp"}}, "mail.host"),
        ({"centers": [{**CENTER, "backend": "google"}]}, "centers[1]（甲）.spreadsheet"),
        ({"centers": [{**CENTER, "manager": {"name": "李", "email": "nobody"}}]}, "manager.email"),
        ({"centers": [CENTER, CENTER]}, "name"),
    ],
)
def test_bad_config_names_the_file_and_the_key(raw, names):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("/srv/reception/config.toml"))
    message = str(caught.value)
    assert "/srv/reception/config.toml" in message and names in message
    assert ConfigError.exit_code == 2


def test_relative_paths_are_relative_to_the_config_file():
    config = parse_config({"centers": [CENTER], "mail": {"outbox_dir": "mails"}}, Path("/srv/r/config.toml"))
    assert config.centers[0].path == Path("/srv/r/a.xlsx") and config.mail.outbox_dir == Path("/srv/r/mails")
