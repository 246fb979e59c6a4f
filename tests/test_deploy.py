"""Deployment as people do it (issue 5): the systemd unit and the cron lines in deploy/.

The documented install puts this repository (with the .venv `make install` makes) at
/opt/reception-worker, the config and secrets in /etc/reception-worker (copied from files in this
repository), and lets systemd make /var/lib/reception-worker. So every path the unit and the cron
lines name is checked against the repository through that mapping, and every command they run is
parsed by the worker's own command-line parser."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from automation.cli import build_parser
from automation.config import load_config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "reception-worker.service"
CRONTAB = ROOT / "deploy" / "crontab.example"
DOCS = ROOT / "docs" / "operations.md"
PREFIX = "/opt/reception-worker"
# What the install steps in docs/operations.md copy into /etc/reception-worker.
INSTALLED_FROM = {
    "/etc/reception-worker/config.toml": ROOT / "config.example.toml",
    "/etc/reception-worker/env": ROOT / "deploy" / "env.example",
}


def installed(path: str) -> Path:
    """Where a path the unit names comes from after the documented install."""
    if path == PREFIX or path.startswith(PREFIX + "/"):
        return ROOT / path[len(PREFIX):].lstrip("/")
    if path in INSTALLED_FROM:
        return INSTALLED_FROM[path]
    return Path(path)  # a system path (/bin/kill)


def read_unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNIT, encoding="utf-8")
    return parser


def automation_args(command: list[str]) -> list[str]:
    """The arguments after `python -m automation` in a command line."""
    start = command.index("-m")
    assert command[start + 1] == "automation"
    return command[start + 2:]


def test_the_unit_parses_and_runs_serve_as_a_dedicated_user_with_a_restart_policy():
    unit = read_unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert service["Type"] == "simple"
    assert service["User"] == service["Group"] == "reception"
    assert service["Restart"] == "on-failure" and "2" in service["RestartPreventExitStatus"].split()
    assert service["KillSignal"] == "SIGTERM"
    assert "SIGHUP" in service["ExecReload"] or "-HUP" in service["ExecReload"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    command = shlex.split(service["ExecStart"])
    assert command[0] == f"{PREFIX}/.venv/bin/python" and service["WorkingDirectory"] == PREFIX
    args = build_parser().parse_args(automation_args(command))
    assert args.command == "serve" and args.config == "/etc/reception-worker/config.toml"


def test_every_path_the_unit_names_exists_after_the_documented_install():
    unit = read_unit()
    service = unit["Service"]
    named = [service["WorkingDirectory"], shlex.split(service["ExecStart"])[0], shlex.split(service["ExecReload"])[0],
             service["EnvironmentFile"].lstrip("-"), unit["Unit"]["Documentation"].removeprefix("file:")]
    named += [word for word in shlex.split(service["ExecStart"]) if word.startswith("/")]
    for path in named:
        assert installed(path).exists(), f"{path} (from {installed(path)}) does not exist after install"
    # The config installed from config.example.toml is one the worker accepts.
    assert load_config(INSTALLED_FROM["/etc/reception-worker/config.toml"]).centers
    # The install steps in the docs create what the unit expects.
    docs = DOCS.read_text(encoding="utf-8")
    for step in ("useradd", "reception", PREFIX, "make install", "/etc/reception-worker/config.toml",
                 "/etc/reception-worker/env", "reception-worker.service", "systemctl enable --now",
                 "crontab -u reception"):
        assert step in docs, step


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_itself_accepts_every_key_and_value(tmp_path):
    """systemd's own checker on the unit as installed (prefix mapped to this checkout): an unknown
    key, a misspelt value or a missing executable would be reported."""
    unit = tmp_path / "reception-worker.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(PREFIX, str(ROOT)), encoding="utf-8")
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (checked.stdout + checked.stderr).splitlines()
                  if "reception-worker.service" in line or unit.name in line]
    assert complaints == []


CRON_FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]
NAMES = {3: "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", 4: "sun|mon|tue|wed|thu|fri|sat"}


def valid_cron_field(text: str, position: int) -> bool:
    _, low, high = CRON_FIELDS[position]
    for item in text.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
        if match is None:
            return position in NAMES and re.fullmatch(NAMES[position], item.lower()) is not None
        span, step = match.groups()
        if step is not None and int(step) < 1:
            return False
        if span != "*":
            bounds = [int(n) for n in span.split("-")]
            if not all(low <= n <= high for n in bounds) or bounds != sorted(bounds):
                return False
    return True


def cron_jobs() -> list[tuple[list[str], str]]:
    jobs = []
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or re.match(r"^[A-Z_]+=", stripped):
            continue
        fields = stripped.split(None, 5)
        jobs.append((fields[:5], fields[5]))
    return jobs


def test_the_cron_lines_are_valid_and_run_the_worker_as_documented():
    jobs = cron_jobs()
    assert len(jobs) == 2
    commands = []
    for fields, command in jobs:
        assert all(valid_cron_field(field, position) for position, field in enumerate(fields)), fields
        assert "%" not in command  # cron turns % into a newline
        assert subprocess.run(["sh", "-n", "-c", command], capture_output=True).returncode == 0  # shell syntax
        for step in re.split(r"&&|\|\||;", command):
            words = [w for w in shlex.split(step.replace("$(", " ").replace(")", " "))
                     if not re.match(r"^\d*>", w) and w != "exec"]  # redirections are the shell's
            if "-m" in words and "automation" in words:
                python = next(w for w in words if w.endswith("python"))
                assert installed(f"{PREFIX}/{python}").exists()
                commands.append(build_parser().parse_args(automation_args(words)))
            elif words and words[0] == "cd":
                assert installed(words[1]).is_dir()
            elif words and words[0] == ".":
                assert installed(words[1]).exists()
    assert [c.command for c in commands] == ["run", "status"]
    assert commands[0].config == commands[1].config == "/etc/reception-worker/config.toml"
    assert commands[0].log_format == "json" and commands[1].no_sheets
    assert cron_jobs()[0][0] == ["*/5", "*", "*", "*", "*"]


def test_the_cron_field_checker_rejects_what_cron_rejects():
    assert not valid_cron_field("60", 0) and not valid_cron_field("*/0", 0) and not valid_cron_field("5-1", 1)
    assert valid_cron_field("7-59/15", 0) and valid_cron_field("mon", 4) and valid_cron_field("1,15", 2)
