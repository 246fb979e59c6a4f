"""The command line (SPEC 5): a thin layer that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from . import logs
from .application.all_centers import Shard
from .application.commands import EXIT_OK, init_all, run_once
from .config import Config, load_config
from .errors import AutomationError, ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with a message naming what to fix
        self.print_usage(sys.stderr)
        print(f"用法錯誤：{message}", file=sys.stderr)
        raise SystemExit(ConfigError.exit_code)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m automation", description="物業服務中心前臺接待記錄自動化")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="在 DIR 生成可運行的示例並運行一次")
    demo.add_argument("--dir", default="demo", help="示例目錄（默認 demo/）")

    init = commands.add_parser("init", help="建立或升級各服務中心的工作簿 / 試算表")
    init.add_argument("--config", required=True)

    run = commands.add_parser("run", help="對所有服務中心運行一次")
    run.add_argument("--config", required=True)
    run.add_argument("--now", help="以此時間代替當前時間（ISO 格式，如 2026-11-27T09:00）")
    run.add_argument("--dry-run", action="store_true", help="只顯示將會做的修改，不寫入、不發送")

    serve = commands.add_parser("serve", help="每 interval_minutes 分鐘運行一次，直到停止")
    serve.add_argument("--config", required=True)
    # Tests only: a clock starting at this ISO time that jumps forward instead of sleeping.
    serve.add_argument("--fake-clock", help=argparse.SUPPRESS)

    status = commands.add_parser("status", help="各服務中心的運行狀況；有異常時退出碼非 0（可作健康檢查）")
    status.add_argument("--config", required=True)
    status.add_argument("--now", help="以此時間代替當前時間（ISO 格式）")
    status.add_argument("--no-sheets", action="store_true",
                        help="只看本機記錄的運行狀況，不讀試算表（不耗 Google API 配額，適合頻繁的健康檢查）")

    for command in (run, serve, status):
        command.add_argument("--shard", metavar="I/N",
                             help="多台機器分擔服務中心：本機處理第 I 份（共 N 份，按名稱哈希穩定分配）")
        command.add_argument("--log-format", choices=logs.LOG_FORMATS, default="text",
                             help="日誌格式：text（默認）或 json（每行一個 JSON，供日誌收集系統）")
    parser.set_defaults(log_format="text", shard=None)  # for the commands without these options
    return parser


def parse_now(text: str | None, config: Config) -> dt.datetime:
    if text is None:
        return dt.datetime.now(config.timezone)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--now {text!r} 不是 ISO 時間，例如 2026-11-27T09:00 或 2026-11-27T09:00+08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.timezone)
    return moment


class _Discard:
    """Where `run --log-format json` sends its plain error lines: the JSON records carry them."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def setup_command_logging(command: str, log_format: str) -> None:
    """serve: every record, timestamped (journald/log files). run, init, status in text: only
    warnings and errors on stderr (their results are printed); in json: every record."""
    if log_format == "json":
        logs.setup_logging("json", level=logging.INFO)
    elif command == "serve":
        logs.setup_logging("text", level=logging.INFO)
    else:
        # `run` prints each center's line and error itself, and the rows' problems are in the
        # sheet's 系統提示; the console adds only what is said nowhere else (other warnings).
        logs.setup_logging("text", level=logging.WARNING, with_time=False,
                           exclude_events=("center_cycle", "cycle_done", "center_held", "row_note", "row_skipped"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_format = args.log_format
    try:
        if args.command == "demo":
            from .application.demo import run_demo

            return run_demo(Path(args.dir))
        setup_command_logging(args.command, log_format)
        config = load_config(args.config)
        if config.mail.password_env:
            logs.register_secret(os.environ.get(config.mail.password_env))
        shard = Shard.parse(args.shard) if args.shard else None
        if args.command == "init":
            return init_all(config)
        if args.command == "run":
            err = _Discard() if log_format == "json" else None
            return run_once(config, parse_now(args.now, config), args.dry_run, err=err, shard=shard)
        if args.command == "serve":
            from .serve import serve

            fake_start = parse_now(args.fake_clock, config) if args.fake_clock else None
            return serve(config, shard=shard, fake_clock_start=fake_start)
        if args.command == "status":
            from .application.status import status_report

            return status_report(config, parse_now(args.now, config), shard=shard, read_sheets=not args.no_sheets)
    except AutomationError as error:
        if log_format == "json":
            logs.event_record(logging.getLogger("automation.cli"), logging.ERROR, "command_failed", str(error),
                              exit_code=error.exit_code)
        else:
            print(f"錯誤：{error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return EXIT_OK
