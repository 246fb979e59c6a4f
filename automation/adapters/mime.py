"""Turning a transport-neutral OutgoingMessage into a real RFC 5322 email.

Both transports (outbox folder and SMTP) send exactly what `build_email` returns, so a message
written to the outbox is byte-for-byte what SMTP would have carried.
"""

from __future__ import annotations

import datetime
import email.policy
from email.headerregistry import Address
from email.message import EmailMessage

from automation.domain.records import OutgoingMessage

# SMTP policy: lines end in CRLF, lines are folded at 78 characters, and non-ASCII header text
# (Chinese subject and display names) is RFC 2047-encoded as UTF-8 because `utf8` stays False.
MAIL_POLICY = email.policy.SMTP

# Header carrying OutgoingMessage.kind, read back by the outbox to name its files.
KIND_HEADER = "X-Automation-Kind"

# Chinese text in UTF-8 is almost entirely non-ASCII bytes; base64 is shorter than
# quoted-printable for it and keeps every line well under the 998-octet limit of RFC 5322.
BODY_TRANSFER_ENCODING = "base64"


def in_angle_brackets(identifier: str) -> str:
    """Return a Message-ID or Content-ID in the `<...>` form RFC 5322 requires, adding the
    brackets if missing (`abc@host` and `<abc@host>` both give `<abc@host>`)."""
    identifier = identifier.strip()
    if not (identifier.startswith("<") and identifier.endswith(">")):
        identifier = f"<{identifier.strip('<>')}>"
    return identifier


def build_email(
    message: OutgoingMessage, sender: str, date: datetime.datetime
) -> EmailMessage:
    """Build the email for `message`, sent from address `sender` at time `date`.

    The sender's display name is the service center (`message.center`) and the recipient's is
    `message.to_name`; both, and the subject, are RFC 2047-encoded when not ASCII. The body is
    multipart/alternative with text/plain and text/html, both UTF-8 and base64-encoded. When
    `message.images` is not empty the HTML part becomes multipart/related and each image is
    attached inline with `Content-ID: <cid>`, so the HTML can show it as `cid:<cid>`.

    `message.html` is used as given: whoever composed it has already escaped staff text.
    `message.message_id` is used as the Message-ID, angle brackets added if it has none.
    A naive `date` is taken as the machine's local time (`datetime.astimezone()`), so the Date
    header always carries a real UTC offset rather than the "unknown zone" `-0000`.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        date = date.astimezone()

    mail = EmailMessage(policy=MAIL_POLICY)
    mail["From"] = Address(display_name=message.center, addr_spec=sender)
    mail["To"] = Address(display_name=message.to_name, addr_spec=message.to_email)
    mail["Subject"] = message.subject
    mail["Date"] = date
    mail["Message-ID"] = in_angle_brackets(message.message_id)
    mail[KIND_HEADER] = message.kind
    # RFC 3834: tells mail servers and out-of-office responders not to auto-reply.
    mail["Auto-Submitted"] = "auto-generated"

    mail.set_content(message.text, subtype="plain", charset="utf-8", cte=BODY_TRANSFER_ENCODING)
    mail.add_alternative(message.html, subtype="html", charset="utf-8", cte=BODY_TRANSFER_ENCODING)

    if message.images:
        html_part = mail.get_payload()[1]
        for image in message.images:
            # add_related turns the text/html part into multipart/related on the first call.
            html_part.add_related(
                image.data,
                maintype="image",
                subtype=image.subtype,
                cid=in_angle_brackets(image.cid),
                disposition="inline",
                filename=f"{image.cid}.{image.subtype}",
            )
    return mail
