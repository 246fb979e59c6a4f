"""`test-mail`: one test message through the configured transport, and what the server answered.

An operator tries the mail settings before the first real digest depends on them: the command
prints each reply of the server (or where the outbox wrote the file) and exits 0 when the
message was accepted, 4 when not, naming the cause (refused login, untrusted certificate,
unreachable host, refused address) as the worker's own runs would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys

from .. import wiring
from ..adapters.mime import build_email
from ..config import Config
from ..domain.messages import id_domain
from ..domain.records import OutgoingMessage
from ..errors import ConfigError, DeliveryError
from ..presentation import compose

EXIT_OK = 0


def test_message(config: Config, to_email: str, now: dt.datetime) -> OutgoingMessage:
    vocabulary = config.vocabulary
    center = config.centers[0].name if config.centers else vocabulary.label("mail", "test_sender")
    stamp = now.strftime("%Y-%m-%d %H:%M")
    subject = vocabulary.label("mail", "test_subject", center=center, time=stamp)
    doc = compose.Document(
        language=config.language, title=subject, greeting=vocabulary.label("mail", "test_greeting"),
        intro=vocabulary.label("mail", "test_intro", transport=config.mail.transport, time=stamp),
        footer=vocabulary.label("mail", "footer", tab=vocabulary.main_tab_title))
    digest = hashlib.sha256(f"{to_email}\x1f{now.isoformat()}".encode("utf-8")).hexdigest()[:12]
    return OutgoingMessage(
        kind="test", period=now.strftime("%Y%m%dT%H%M%S"), center=center, recipient_role="test",
        to_name="", to_email=to_email, subject=subject, text=compose.render_text(doc),
        html=compose.render_html(doc), message_id=f"<test.{digest}@{id_domain(config.mail.sender)}>")


def send_test_mail(config: Config, to: str | None, now: dt.datetime, out=None, err=None) -> int:
    """Send one test message to `to` (default: the first center's supervisor); SPEC's exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    if not to:
        if not config.centers:
            raise ConfigError(config.vocabulary.label("output", "test_mail_no_recipient", source=config.source))
        to = config.centers[0].supervisor.email
    transport = wiring.transport_for(config)
    message = test_message(config, to, now)
    print(config.vocabulary.label("output", "test_mail_sending", transport=transport.describe(), to=to), file=out)
    try:
        replies = transport.send_reporting(build_email(message, config.mail.sender, now))
    except DeliveryError as error:
        print(config.vocabulary.label("output", "test_mail_refused", reason=error.reason), file=err)
        return DeliveryError.exit_code
    for line in replies:
        print(f"  {line}", file=out)
    print(config.vocabulary.label("output", "test_mail_accepted", to=to), file=out)
    return EXIT_OK
