"""The command line (SPEC 5): a thin layer that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import re
import sys
from pathlib import Path

from . import __version__, logs
from .application.all_centers import Shard
from .application.commands import EXIT_OK, init_all, run_once
from .config import Config, load_config
from .errors import AutomationError, ConfigError
from .language import LocalizingStream, localize

NOW_YEARS = (1900, 9999)  # SPEC 6: a --now outside these years is a usage error
NOW_TOLERANCE = dt.timedelta(hours=1)  # SPEC 5: a --now farther than this from the clock is said


# argparse's own English, as a Chinese interface says it (SPEC 5.1). argparse takes its words from
# gettext, which has no Chinese catalogue installed, so the texts are translated on their way out.
HELP_WORDS = (
    ("usage: ", "用法："), ("positional arguments:", "命令："), ("options:", "選項："),
    ("show this help message and exit", "顯示本說明並退出"), ("show program's version number and exit", "顯示版本號並退出"),
)
ERROR_PATTERNS = (
    (re.compile(r"the following arguments are required: (.+)"), "缺少必需的參數：{0}"),
    (re.compile(r"unrecognized arguments: (.+)"), "無法識別的參數：{0}"),
    (re.compile(r"argument (.+?): invalid choice: (.+?) \(choose from (.+)\)"), "參數 {0} 的值 {1} 無效（可選：{2}）"),
    (re.compile(r"argument (.+?): expected one argument"), "參數 {0} 需要一個值"),
    (re.compile(r"argument (.+?): ignored explicit argument (.+)"), "參數 {0} 不接受值 {1}"),
    (re.compile(r"argument (.+?): not allowed with argument (.+)"), "參數 {0} 不能與 {1} 同時使用"),
    (re.compile(r"ambiguous option: (.+?) could match (.+)"), "選項 {0} 不明確，可能是：{1}"),
)


def chinese_usage_error(message: str) -> str:
    for pattern, template in ERROR_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return template.format(*match.groups())
    return message


def chinese_help(text: str) -> str:
    for english, chinese in HELP_WORDS:
        text = text.replace(english, chinese)
    return text


class _Parser(argparse.ArgumentParser):
    def format_usage(self) -> str:
        return chinese_help(super().format_usage())

    def format_help(self) -> str:
        return chinese_help(super().format_help())

    def error(self, message):  # usage errors exit 2 with a message naming what to fix
        self.print_usage(sys.stderr)
        print(f"用法錯誤：{chinese_usage_error(message)}（詳見 --help）", file=sys.stderr)
        raise SystemExit(ConfigError.exit_code)


CONFIG_HELP = "設定檔（TOML，寫法見 config.example.toml）；檔中的相對路徑相對於設定檔所在資料夾"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reception-worker", description="物業服務中心前臺接待記錄自動化（也可用 python -m automation 運行）")
    parser.add_argument("--version", action="version", version=f"reception-worker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title="命令",
                                     metavar="命令")

    demo = commands.add_parser("demo", help="在 DIR 生成可運行的示例並運行一次")
    demo.add_argument("--dir", default="demo", help="示例目錄（默認 demo/）")

    init = commands.add_parser("init", help="建立或升級各服務中心的工作簿 / 試算表")
    init.add_argument("--config", required=True, metavar="FILE", help=CONFIG_HELP)

    run = commands.add_parser("run", help="對所有服務中心運行一次")
    run.add_argument("--config", required=True, metavar="FILE", help=CONFIG_HELP)
    run.add_argument("--now", metavar="ISO-DATETIME",
                     help="以此時間代替當前時間（ISO 格式，如 2026-11-27T09:00）；只供試用，請同時加 --dry-run")
    run.add_argument("--dry-run", action="store_true", help="只顯示將會做的修改，不寫入、不發送")
    run.add_argument("--preview", metavar="DIR",
                     help="與 --dry-run 同用：把將要發出的每封郵件寫成 .eml 放進 DIR（不發送、不記錄）")

    serve = commands.add_parser("serve", help="每 interval_minutes 分鐘運行一次，直到停止")
    serve.add_argument("--config", required=True, metavar="FILE", help=CONFIG_HELP)
    # Tests only: a clock starting at this ISO time that jumps forward instead of sleeping.
    serve.add_argument("--fake-clock", help=argparse.SUPPRESS)

    status = commands.add_parser("status", help="各服務中心的運行狀況；有異常時退出碼非 0（可作健康檢查）")
    status.add_argument("--config", required=True, metavar="FILE", help=CONFIG_HELP)
    status.add_argument("--now", help="以此時間代替當前時間（ISO 格式）")
    status.add_argument("--no-sheets", action="store_true",
                        help="只看本機記錄的運行狀況，不讀試算表（不耗 Google API 配額，適合頻繁的健康檢查）")

    test_mail = commands.add_parser("test-mail", help="經設定的郵件方式發一封測試郵件，顯示伺服器的回答")
    test_mail.add_argument("--config", required=True, metavar="FILE", help=CONFIG_HELP)
    test_mail.add_argument("--to", metavar="ADDRESS", help="收件地址（默認：第一個服務中心的客服主管）")

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
    try:
        local = moment.astimezone(config.timezone)
    except OverflowError:
        local = None
    if local is None or not NOW_YEARS[0] <= local.year <= NOW_YEARS[1] or local.date() >= dt.date.max:
        raise ConfigError(f"--now {text!r} 超出可用範圍：應在 {NOW_YEARS[0]}-01-01 到 {NOW_YEARS[1]}-12-30 之間"
                          f"（例如 2026-11-27T09:00）")
    return moment


def warn_if_now_is_far(now: dt.datetime, clock: dt.datetime, config: Config, dry_run: bool) -> None:
    """SPEC 5: a --now more than an hour from the real clock, without --dry-run, records digests
    and escalations that stand afterwards: say so before the run starts, naming both times."""
    if dry_run or abs(now - clock) <= NOW_TOLERANCE:
        return
    shown = "%Y-%m-%d %H:%M %z"
    now_text = now.astimezone(config.timezone).strftime(shown)
    clock_text = clock.astimezone(config.timezone).strftime(shown)
    logs.event_record(logging.getLogger("automation.cli"), logging.WARNING, "now_far_from_clock",
                      config.vocabulary.label("output", "now_far_from_clock", now=now_text, clock=clock_text),
                      now=now.isoformat(), clock=clock.isoformat())


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
    language, keep = language_of(None), ()
    try:
        if args.command == "demo":
            from .application.demo import run_demo

            return run_demo(Path(args.dir))
        setup_command_logging(args.command, log_format)
        try:
            config = load_config(args.config)
        except ConfigError as error:
            language = language_of(error.language)
            raise
        language, keep = config.language, config.names_kept_verbatim
        logs.use_timezone(config.timezone)
        if config.mail.password_env:
            logs.register_secret(os.environ.get(config.mail.password_env))
        with speaking(language, keep):
            return run_command(args, config)
    except AutomationError as error:
        message = localize(str(error), language, keep)
        if log_format == "json":
            with speaking(language, keep):
                logs.event_record(logging.getLogger("automation.cli"), logging.ERROR, "command_failed", message,
                                  exit_code=error.exit_code)
        else:
            print(localize("錯誤：", language) + message, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def language_of(configured: str | None) -> str:
    """What an error is said in before the configuration is read: Traditional, the default."""
    return configured or "zh-Hant"


@contextlib.contextmanager
def speaking(language: str, keep: tuple[str, ...]):
    """stdout and stderr (and so the log lines) in the configured language while a command runs
    (SPEC 5.1): every line a command prints, whoever wrote it, passes through one converter."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = LocalizingStream(sys.stdout, language, keep), LocalizingStream(sys.stderr, language, keep)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def run_command(args: argparse.Namespace, config: Config) -> int:
    shard = Shard.parse(args.shard) if args.shard else None
    if args.command == "init":
        return init_all(config)
    if args.command == "run":
        err = _Discard() if args.log_format == "json" else None
        if args.preview and not args.dry_run:
            raise ConfigError("--preview 只能與 --dry-run 同用：它把將要發出的郵件寫進資料夾，不發送")
        now = parse_now(args.now, config)
        if args.now is not None:
            warn_if_now_is_far(now, dt.datetime.now(config.timezone), config, args.dry_run)
        return run_once(config, now, args.dry_run, err=err, shard=shard,
                        preview=Path(args.preview) if args.preview else None)
    if args.command == "test-mail":
        from .application.mail_check import send_test_mail

        return send_test_mail(config, args.to, parse_now(None, config))
    if args.command == "serve":
        from .serve import serve

        fake_start = parse_now(args.fake_clock, config) if args.fake_clock else None
        return serve(config, shard=shard, fake_clock_start=fake_start)
    if args.command == "status":
        from .application.status import status_report

        return status_report(config, parse_now(args.now, config), shard=shard, read_sheets=not args.no_sheets)
    return EXIT_OK


def entry_point() -> None:
    """`reception-worker` and `python -m automation`: main's exit code; output piped into a
    program that stops reading early (`| head`) ends quietly instead of with a traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that raises nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
