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
    keys = set(re.findall(r'\.(?:take|positive_int|int_between|clock_time|choice|header_text|address)\("([a-z_]+)"', source))
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


# --- SPEC 6: values that pass a type check and then break every run are refused (issue 10.7) ---

def person(name="王", email="s@x.cn"):
    return {"name": name, "email": email}


@pytest.mark.parametrize(
    "raw,names",
    [
        ({"centers": [{**CENTER, "name": "甲\r\nBcc: x@evil.cn"}]}, "centers[1].name"),
        ({"centers": [{**CENTER, "name": "甲\x00"}]}, "centers[1].name"),
        ({"centers": [{**CENTER, "supervisor": person(name="王\n敏")}]}, "supervisor.name"),
        ({"centers": [{**CENTER, "manager": person(name="李\x1b[31m")}]}, "manager.name"),
        ({"centers": [{**CENTER, "manager": person(email="m@x.cn\r\nBcc: y@x.cn")}]}, "manager.email"),
        ({"centers": [{**CENTER, "manager": person(email="m @x.cn")}]}, "manager.email"),
        ({"centers": [CENTER], "mail": {"from": "not an address"}}, "mail.from"),
        ({"centers": [CENTER], "mail": {"from": "a@@example.com"}}, "mail.from"),
        ({"centers": [CENTER], "mail": {"from": "王敏 <a@example.com"}}, "mail.from"),
        ({"centers": [CENTER], "escalation": {"categories": {"投訴": {"manger_after_days": 3}}}},
         "escalation.categories.投訴.manger_after_days"),
        ({"centers": [CENTER], "escalation": {"manager_after_days": 99999999999}}, "escalation.manager_after_days"),
        ({"centers": [CENTER], "escalation": {"supervisor_after_days": 0}}, "escalation.supervisor_after_days"),
        ({"centers": [CENTER], "escalation": {"categories": {"緊急": {"manager_after_days": 367}}}},
         "escalation.categories.緊急.manager_after_days"),
        ({"centers": [CENTER], "schedule": {"daily_digest_at": "08:30+05:00"}}, "schedule.daily_digest_at"),
        ({"centers": [CENTER], "schedule": {"weekly_review_at": "09:00:30"}}, "schedule.weekly_review_at"),
        ({"centers": [CENTER], "schedule": {"weekly_review_at": "24:00"}}, "schedule.weekly_review_at"),
        ({"centers": [CENTER], "schedule": {"interval_minutes": 10**12}}, "schedule.interval_minutes"),
        ({"centers": [CENTER], "mail": {"port": 70000}}, "mail.port"),
        ({"centers": [CENTER, {**CENTER, "name": "乙", "path": "./sub/../a.xlsx"}]}, "centers[2]（乙）.path"),
        ({"centers": [{**CENTER, "backend": "google", "spreadsheet": "1AbC_d-9", "credentials": "k.json"},
                      {**CENTER, "name": "乙", "backend": "google", "credentials": "k.json",
                       "spreadsheet": "https://docs.google.com/spreadsheets/d/1AbC_d-9/edit#gid=0"}]},
         "centers[2]（乙）.spreadsheet"),
    ],
)
def test_spec_6_values_that_would_break_every_run_are_refused(raw, names):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("/srv/reception/config.toml"))
    message = str(caught.value)
    assert "/srv/reception/config.toml" in message and names in message


def test_spec_6_a_display_name_in_an_address_is_fine():
    config = parse_config({"centers": [{**CENTER, "supervisor": person(email="王敏 <wang@x.cn>")}],
                           "mail": {"from": "前臺 <frontdesk@example.com>"},
                           "escalation": {"manager_after_days": 366, "supervisor_after_days": 1},
                           "schedule": {"daily_digest_at": "8:05"}},
                          Path("/srv/r/config.toml"))
    assert config.mail.sender == "frontdesk@example.com"
    assert config.centers[0].supervisor.email == "wang@x.cn"
    assert config.schedule.daily_digest_at.hour == 8 and config.schedule.daily_digest_at.minute == 5


def test_spec_6_two_centers_on_one_workbook_through_a_link_are_refused(tmp_path):
    (tmp_path / "a.xlsx").write_bytes(b"x")
    (tmp_path / "link.xlsx").symlink_to(tmp_path / "a.xlsx")
    raw = {"centers": [CENTER, {**CENTER, "name": "乙", "path": "link.xlsx"}]}
    with pytest.raises(ConfigError, match=r"centers\[2\]（乙）\.path.*甲"):
        parse_config(raw, tmp_path / "config.toml")
    raw["centers"][1]["path"] = "b.xlsx"  # another workbook: fine
    assert len(parse_config(raw, tmp_path / "config.toml").centers) == 2
