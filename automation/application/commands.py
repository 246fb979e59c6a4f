"""The application's commands as functions: `run` (one cycle over every center) and `init`.

The command line (automation/cli.py), the demo and the tests call these; `status` is in
status.py beside them, `demo` in demo.py. Each returns SPEC's exit code and prints what the
user sees on `out` / `err`."""

from __future__ import annotations

import contextlib
import functools
import datetime as dt
import sys
from pathlib import Path

from .. import logs, wiring
from ..config import Config
from ..vocabulary import Vocabulary
from ..domain.privacy import mask_phones_in_text
from ..domain.records import CenterResult
from ..errors import AutomationError, DeliveryError
from .all_centers import CycleRunner, center_lease

EXIT_OK = 0


# out/err default to the sys streams as they are at call time (not at import time), so a caller
# that redirects them (an embedding program, a test) sees the output.
def run_once(config: Config, now: dt.datetime, dry_run: bool, out=None, err=None, *, shard=None,
             preview: Path | None = None) -> int:
    """One cycle over every center (of `shard`); the worst exit code wins, after every center ran.

    Centers are handled concurrently (`[schedule] workers`, see all_centers.py), each under
    its sheet's lease; their lines are printed in config order. On a terminal, with several
    centers, a progress line on stderr shows how far the cycle got. With `preview` (a dry run
    only), every message that would go out is written as an .eml file into that folder."""
    out, err = out or sys.stdout, err or sys.stderr
    runner = CycleRunner(config, command="run", shard=shard)
    progress = logs.ProgressLine(err) if logs.wants_progress(err, len(runner.centers())) else None
    worst = EXIT_OK

    def show(outcome) -> None:
        nonlocal worst
        with progress.lock if progress else contextlib.nullcontext():
            if progress:
                progress.clear()
            worst = max(worst, print_outcome(outcome, dry_run, out, err, config.vocabulary))
            if preview is not None and outcome.result is not None:
                worst = max(worst, write_preview(outcome.result.preview, preview, config, now, out, err))
            if progress:
                out.flush()
                progress.redraw()

    def advance(done: int, total: int, outcome) -> None:
        progress.show(f"[{done}/{total}] {outcome.center.name}")

    logs.attach_progress(progress)
    try:
        runner.run_cycle(now, dry_run=dry_run, on_outcome=show, on_progress=advance if progress else None)
    finally:
        runner.close()
        logs.attach_progress(None)
        if progress:
            progress.finish()
    return worst


def write_preview(due: list, folder: Path, config: Config, now: dt.datetime, out, err) -> int:
    """Write each message of a dry run into `folder` as the outbox would (nothing sent or logged)."""
    from ..adapters.mime import build_email
    from ..adapters.outbox import OutboxTransport

    outbox = OutboxTransport(folder)
    try:
        paths = [outbox.send(build_email(message, config.mail.sender, now)) for message in due]
    except DeliveryError as error:
        print(f"錯誤：{error.reason}", file=err)
        return error.exit_code
    print(f"  {config.vocabulary.label('output', 'preview_written', count=len(paths), folder=folder)}", file=out)
    for path in paths:
        print(f"    {path.name}", file=out)
    return EXIT_OK


def print_outcome(outcome, dry_run: bool, out, err, vocabulary: Vocabulary | None = None) -> int:
    """A center's summary line (stdout) or error (stderr), as `run` has always printed them."""
    result = outcome.result
    if result is None:
        if outcome.not_started:
            return EXIT_OK
        print(f"錯誤：{mask_phones_in_text(outcome.error)}", file=err)
        return outcome.exit_code
    print(summary_line(result, dry_run, vocabulary), file=out)
    for line in result.dry_run_lines:
        print(f"  {mask_phones_in_text(line)}", file=out)  # phones are masked outside the main tab
    for line in result.skipped_lines:  # rows whose worker cells cannot be written (SPEC 6)
        print(f"  {line}", file=out)
    if result.exit_code:
        print(f"錯誤：服務中心「{outcome.center.name}」：{mask_phones_in_text(result.error)}", file=err)
        return result.exit_code
    return EXIT_OK


def summary_line(result: CenterResult, dry_run: bool, vocabulary: Vocabulary | None = None) -> str:
    """A center's line, in the configured language (default: the default language)."""
    words = functools.partial((vocabulary or Vocabulary()).label, "output")
    if dry_run:
        return words("run_dry_summary", center=result.center, rows=result.rows, cells=result.cells_written)
    if result.idle:
        return words("run_idle", center=result.center, rows=result.rows)
    parts = [words("run_rows", count=result.rows), words("run_cells", count=result.cells_written)]
    if result.tabs_written:
        parts.append(words("run_tabs", tabs="、".join(result.tabs_written)))
    if result.escalations:
        parts.append(words("run_escalations", count=result.escalations))
    if result.messages_sent or result.messages_failed:
        parts.append(words("run_mails", count=result.messages_sent)
                     + (words("run_mails_failed", count=result.messages_failed) if result.messages_failed else ""))
    if result.log_rows:
        parts.append(words("run_log_rows", count=result.log_rows))
    return f"{result.center}：" + "，".join(parts) + words("run_seconds", seconds=f"{result.seconds:.1f}")


def init_all(config: Config, out=None, err=None) -> int:
    from .one_center import layout_for  # pandas and the rules: not needed by `run`'s idle cycles

    out, err = out or sys.stdout, err or sys.stderr
    worst = EXIT_OK
    for center in config.centers:
        try:
            backend = wiring.backend_for(center, config)
            # init writes too: not while serve (or another worker) holds the sheet.
            with center_lease(center, backend, config, command="init"):
                changes = backend.initialize(layout_for(config, center))
        except AutomationError as error:
            print(f"錯誤：{error}", file=err)
            worst = max(worst, error.exit_code)
            continue
        if changes:
            print(f"{center.name}（{backend.describe()}）：", file=out)
            for change in changes:
                print(f"  {change}", file=out)
        else:
            print(config.vocabulary.label("output", "init_up_to_date", center=center.name), file=out)
    return worst
