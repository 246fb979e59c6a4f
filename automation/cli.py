"""The command line (SPEC 5): a thin layer that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from . import service, wiring
from .config import Config, load_config
from .errors import AutomationError, ConfigError

EXIT_OK = 0


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


def run_once(config: Config, now: dt.datetime, dry_run: bool, out=sys.stdout, err=sys.stderr) -> int:
    """One cycle over every center; the worst exit code wins, after every center ran."""
    worst = EXIT_OK
    transport = None
    for center in config.centers:
        try:
            if transport is None and not dry_run:
                transport = wiring.transport_for(config)
            backend = wiring.backend_for(center, config)
            result = service.run_center(center, config, now, backend, transport, dry_run=dry_run)
        except AutomationError as error:
            print(f"錯誤：{error}", file=err)
            worst = max(worst, error.exit_code)
            continue
        except Exception as error:  # a bug must not stop the other centers
            print(f"錯誤：服務中心「{center.name}」運行失敗（內部錯誤 {type(error).__name__}）", file=err)
            worst = max(worst, 1)
            continue
        print(summary_line(result, dry_run), file=out)
        for line in result.dry_run_lines:
            print(f"  {line}", file=out)
        if result.exit_code:
            print(f"錯誤：服務中心「{center.name}」：{result.error}", file=err)
            worst = max(worst, result.exit_code)
    return worst


def summary_line(result: service.CenterResult, dry_run: bool) -> str:
    if dry_run:
        return f"{result.center}（試運行，未寫入未發送）：讀取 {result.rows} 行，將修改 {result.cells_written} 個儲存格"
    parts = [f"讀取 {result.rows} 行", f"寫入 {result.cells_written} 個儲存格"]
    if result.tabs_written:
        parts.append(f"更新分頁 {'、'.join(result.tabs_written)}")
    if result.escalations:
        parts.append(f"升級 {result.escalations} 項")
    if result.messages_sent or result.messages_failed:
        parts.append(f"發送郵件 {result.messages_sent} 封" + (f"，失敗 {result.messages_failed} 封" if result.messages_failed else ""))
    if result.log_rows:
        parts.append(f"日誌 {result.log_rows} 行")
    return f"{result.center}：" + "，".join(parts) + f"（{result.seconds:.1f} 秒）"


def init_all(config: Config, out=sys.stdout, err=sys.stderr) -> int:
    worst = EXIT_OK
    for center in config.centers:
        try:
            backend = wiring.backend_for(center, config)
            changes = backend.initialize(service.layout_for(config, center))
        except AutomationError as error:
            print(f"錯誤：{error}", file=err)
            worst = max(worst, error.exit_code)
            continue
        if changes:
            print(f"{center.name}（{backend.describe()}）：", file=out)
            for change in changes:
                print(f"  {change}", file=out)
        else:
            print(f"{center.name}：已是最新，無需修改", file=out)
    return worst


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(Path(args.dir))
        config = load_config(args.config)
        if args.command == "init":
            return init_all(config)
        if args.command == "run":
            return run_once(config, parse_now(args.now, config), args.dry_run)
        if args.command == "serve":
            from .serve import serve

            return serve(config)
    except AutomationError as error:
        print(f"錯誤：{error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return EXIT_OK
