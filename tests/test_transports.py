"""The mail transports against real servers and a real folder.

SMTP tests talk to an aiosmtpd server on 127.0.0.1 (plain, STARTTLS, implicit TLS, with and
without AUTH), with certificates from a throwaway trustme CA. Outbox tests write into tmp_path.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import logging
import os
import re
import socket
import ssl
import threading
import time
import traceback
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from automation.adapters.mime import build_email
from automation.adapters.outbox import OutboxTransport, eml_file_name
from automation.adapters.smtp import SmtpTransport
from automation.domain.records import InlineImage, OutgoingMessage
from automation.errors import ConfigError, DeliveryError
from tests.smtp_server import ca, ca_file, free_port, server_tls_context  # noqa: F401  (fixtures)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SENT_AT = datetime.datetime(2026, 3, 10, 8, 30, 5, tzinfo=SHANGHAI)
SENDER = "frontdesk@example.com"
USERNAME = "frontdesk"
PASSWORD = "Tr0ub4dor&3-hunter2"
CENTER = "錦繡花園服務中心"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ESCAPED_HTML = (
    "<html><body><h1>錦繡花園服務中心</h1>"
    "<p>事由：&lt;script&gt;alert(1)&lt;/script&gt; 電梯故障，業主多次來電</p>"
    '<img src="cid:chart-1@automation" alt="圖表"></body></html>'
)
LONG_CHINESE_LINE = "業主反映樓上漏水，已通知工程部上門檢查處理。" * 40


def outgoing(
    *,
    kind: str = "supervisor_digest",
    to_name: str = "王敏",
    to_email: str = "supervisor@example.com",
    message_id: str = "<supervisor_digest.2026-03-10.jxhy.0f3a@automation.invalid>",
    images: tuple[InlineImage, ...] = (InlineImage("chart-1@automation", PNG_BYTES),),
) -> OutgoingMessage:
    return OutgoingMessage(
        kind=kind,
        period="2026-03-10",
        center=CENTER,
        recipient_role="supervisor",
        to_name=to_name,
        to_email=to_email,
        subject=f"[{CENTER}] 客服主管每日隊列 2026-03-10",
        text=f"王敏 您好：\n\n主管隊列 3 項\nJX-0001 138****5678\n{LONG_CHINESE_LINE}\n",
        html=ESCAPED_HTML,
        message_id=message_id,
        record_ids=("JX-0001",),
        images=images,
    )


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def unix_newlines(text: str) -> str:
    # MIME text parts travel in canonical form, lines ending in CRLF.
    return text.replace("\r\n", "\n")


def assert_same_message(received: email.message.EmailMessage, original: OutgoingMessage) -> None:
    """Check that a parsed email carries everything of `original`, decoded."""
    sender = received["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (CENTER, SENDER)
    recipient = received["To"].addresses[0]
    assert (recipient.display_name, recipient.addr_spec) == (original.to_name, original.to_email)
    assert received["Subject"] == original.subject
    assert received["Message-ID"] == original.message_id
    assert received["X-Automation-Kind"] == original.kind
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Date"].datetime == SENT_AT
    assert received.get_content_type() == "multipart/alternative"

    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert unix_newlines(plain.get_content()) == original.text
    assert unix_newlines(html.get_content()).rstrip("\n") == original.html
    assert "&lt;script&gt;" in html.get_content()  # not escaped twice, not unescaped

    if original.images:
        related = received.get_payload()[1]
        assert related.get_content_type() == "multipart/related"
        images = [part for part in related.iter_parts() if part.get_content_maintype() == "image"]
        assert len(images) == len(original.images)
        for part, image in zip(images, original.images):
            assert part["Content-ID"] == f"<{image.cid}>"
            assert part.get_content_type() == f"image/{image.subtype}"
            assert part.get_content_disposition() == "inline"
            assert part.get_content() == image.data
            assert f"cid:{image.cid}" in html.get_content()


# ----- SMTP server fixtures ---------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler keeping every accepted message; refuses the addresses in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.refuse = set(refuse)
        self.received: list[dict] = []
        self.auth_mechanisms: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {
                "peer": session.peer,
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content,
                "encrypted": server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
            }
        )
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        accepted = isinstance(auth_data, LoginPassword) and auth_data == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        if accepted:
            self.auth_mechanisms.append(mechanism)
        # handled=False makes aiosmtpd answer "535" itself; with the default handled=True it
        # would say nothing, leaving the client waiting.
        return AuthResult(success=accepted, handled=False)


@pytest.fixture
def smtp_server():
    """Factory starting an aiosmtpd server on 127.0.0.1; every server is stopped afterwards.

    Keyword arguments go to the Controller (ssl_context) or to aiosmtpd's SMTP (tls_context,
    authenticator, auth_require_tls, require_starttls, auth_exclude_mechanism, timeout...).
    """
    controllers: list[Controller] = []

    def start(handler: RecordingHandler | None = None, **kwargs) -> tuple[Controller, RecordingHandler]:
        handler = handler or RecordingHandler()
        if kwargs.pop("with_auth", False):
            kwargs["authenticator"] = handler.authenticator
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=free_port(),
            server_hostname="mail.test",  # avoids a getfqdn() lookup in the server
            ready_timeout=5,
            **kwargs,
        )
        controller.start()
        controllers.append(controller)
        return controller, handler

    yield start
    for controller in controllers:
        controller.stop()


def transport_for(controller: Controller, **kwargs) -> SmtpTransport:
    settings = dict(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        username=None,
        password=None,
        timeout=5,
        local_hostname="worker.test",
    )
    settings.update(kwargs)
    return SmtpTransport(**settings)


def mail(message: OutgoingMessage | None = None, date: datetime.datetime = SENT_AT):
    return build_email(message or outgoing(), SENDER, date)


# ----- SMTP: success paths ----------------------------------------------------------------


def test_plain_smtp_delivers_a_message_that_decodes_to_the_original(smtp_server):
    controller, handler = smtp_server()
    message = outgoing()

    transport_for(controller).send(mail(message))

    [received] = handler.received
    assert received["mail_from"] == SENDER
    assert received["rcpt_tos"] == ["supervisor@example.com"]
    assert not received["encrypted"]
    assert_same_message(parse(received["content"]), message)


def test_headers_on_the_wire_are_ascii_with_chinese_encoded_per_rfc_2047(smtp_server):
    controller, handler = smtp_server()
    transport_for(controller).send(mail())

    raw = handler.received[0]["content"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # raises if any header carries raw UTF-8
    assert b"=?utf-8?" in head
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_login_with_the_site_ca(smtp_server, ca, ca_file, mechanism):
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    controller, handler = smtp_server(
        tls_context=server_tls_context(ca, "localhost", "127.0.0.1"),
        require_starttls=True,
        auth_require_tls=True,
        auth_exclude_mechanism=[other],
        with_auth=True,
    )
    transport = transport_for(
        controller, security="starttls", username=USERNAME, password=PASSWORD, ca_file=ca_file
    )

    transport.send(mail())

    [received] = handler.received
    assert received["encrypted"] and received["authenticated"]
    assert handler.auth_mechanisms == [mechanism]
    assert_same_message(parse(received["content"]), outgoing())


def test_implicit_tls_with_login(smtp_server, ca, ca_file):
    # aiosmtpd only counts STARTTLS as encryption for auth_require_tls; with implicit TLS it
    # would refuse AUTH with "538 Encryption required" unless told not to check.
    controller, handler = smtp_server(
        ssl_context=server_tls_context(ca, "localhost", "127.0.0.1"),
        with_auth=True,
        auth_require_tls=False,
    )
    transport = transport_for(
        controller, security="ssl", username=USERNAME, password=PASSWORD, ca_file=ca_file
    )

    transport.send(mail())

    [received] = handler.received
    assert received["encrypted"] and received["authenticated"]
    assert_same_message(parse(received["content"]), outgoing())


def test_one_connection_serves_every_send_between_open_and_close(smtp_server):
    controller, handler = smtp_server()
    transport = transport_for(controller)

    with transport:
        for number in range(3):
            transport.send(mail(outgoing(message_id=f"<kept-{number}@automation.invalid>")))
    transport.send(mail(outgoing(message_id="<alone-1@automation.invalid>")))
    transport.send(mail(outgoing(message_id="<alone-2@automation.invalid>")))

    peers = [received["peer"] for received in handler.received]
    assert len(peers) == 5
    assert len(set(peers[:3])) == 1  # the same client port: one connection
    assert len(set(peers[2:])) == 3  # without open(), one connection per message


def test_kept_connection_dropped_by_the_server_is_reopened(smtp_server):
    # aiosmtpd closes a connection idle for `timeout` seconds.
    controller, handler = smtp_server(timeout=0.3)
    transport = transport_for(controller)

    with transport:
        transport.send(mail(outgoing(message_id="<before@automation.invalid>")))
        time.sleep(0.8)
        transport.send(mail(outgoing(message_id="<after@automation.invalid>")))

    assert [parse(r["content"])["Message-ID"] for r in handler.received] == [
        "<before@automation.invalid>",
        "<after@automation.invalid>",
    ]
    assert handler.received[0]["peer"] != handler.received[1]["peer"]


# ----- SMTP: failures ---------------------------------------------------------------------


def test_starttls_with_an_untrusted_certificate_is_refused(smtp_server, ca):
    controller, handler = smtp_server(tls_context=server_tls_context(ca, "localhost", "127.0.0.1"))
    transport = transport_for(controller, security="starttls")  # system trust store only

    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())

    assert caught.value.reason.startswith("伺服器證書不受信任 (127.0.0.1:")
    assert "certificate" in caught.value.reason
    assert caught.value.exit_code == 4
    assert handler.received == []


def test_a_certificate_for_another_host_name_is_refused(smtp_server, ca, ca_file):
    controller, handler = smtp_server(tls_context=server_tls_context(ca, "mail.example.test"))
    transport = transport_for(controller, security="starttls", ca_file=ca_file)

    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())

    assert caught.value.reason.startswith("伺服器證書不受信任 (127.0.0.1:")
    assert "mismatch" in caught.value.reason
    assert handler.received == []


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(smtp_server):
    controller, handler = smtp_server()  # no tls_context: no STARTTLS in EHLO
    transport = transport_for(controller, security="starttls")

    with pytest.raises(DeliveryError, match=r"^郵件伺服器不支援 STARTTLS \(127\.0\.0\.1:\d+"):
        transport.send(mail())
    assert handler.received == []


def test_implicit_tls_with_an_untrusted_certificate_is_refused(smtp_server, ca):
    controller, handler = smtp_server(ssl_context=server_tls_context(ca, "127.0.0.1"))
    transport = transport_for(controller, security="ssl")

    with pytest.raises(DeliveryError, match=r"^伺服器證書不受信任 "):
        transport.send(mail())
    assert handler.received == []


def test_refused_login_never_reveals_the_password(smtp_server, ca, ca_file, caplog):
    caplog.set_level(logging.DEBUG)
    controller, handler = smtp_server(
        tls_context=server_tls_context(ca, "127.0.0.1"), with_auth=True
    )
    wrong_password = PASSWORD + "-wrong"
    transport = transport_for(
        controller, security="starttls", username=USERNAME, password=wrong_password, ca_file=ca_file
    )

    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())

    error = caught.value
    assert error.reason.startswith("郵件伺服器拒絕登入 (535")
    shown = [
        str(error),
        repr(error),
        error.reason,
        "".join(traceback.format_exception(error)),
        repr(transport),
        str(transport),
        transport.describe(),
        repr(vars(transport)),
        caplog.text,
    ]
    assert all(wrong_password not in text for text in shown)
    assert handler.received == []


def test_repr_hides_the_password():
    transport = SmtpTransport(
        "smtp.example.com", 587, "starttls", USERNAME, PASSWORD, local_hostname="worker.test"
    )
    assert PASSWORD not in repr(transport) and "password='***'" in repr(transport)
    assert transport.describe() == "smtp smtp.example.com:587 (starttls)"


def test_non_ascii_password_is_a_delivery_error_not_a_crash(smtp_server, ca, ca_file):
    controller, _ = smtp_server(tls_context=server_tls_context(ca, "127.0.0.1"), with_auth=True)
    password = "密碼-secret"
    transport = transport_for(
        controller, security="starttls", username=USERNAME, password=password, ca_file=ca_file
    )

    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())
    assert caught.value.reason.startswith("無法登入郵件伺服器")
    assert password not in "".join(traceback.format_exception(caught.value))


def test_refused_recipient_is_a_delivery_error(smtp_server):
    controller, handler = smtp_server(RecordingHandler(refuse=("manager@example.com",)))
    transport = transport_for(controller)

    with pytest.raises(DeliveryError) as caught:
        transport.send(mail(outgoing(to_name="李強", to_email="manager@example.com")))

    assert caught.value.reason.startswith("收件人被拒絕 (manager@example.com: 550")
    assert handler.received == []


def test_refused_recipient_does_not_spoil_the_kept_connection(smtp_server):
    controller, handler = smtp_server(RecordingHandler(refuse=("manager@example.com",)))
    transport = transport_for(controller)

    with transport:
        with pytest.raises(DeliveryError):
            transport.send(mail(outgoing(to_name="李強", to_email="manager@example.com")))
        transport.send(mail())

    assert [r["rcpt_tos"] for r in handler.received] == [["supervisor@example.com"]]


def test_server_down_fails_fast():
    port = free_port()  # nobody listens there
    transport = SmtpTransport("127.0.0.1", port, "none", None, None, timeout=2)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())

    assert time.monotonic() - started < 2
    assert caught.value.reason == f"郵件伺服器無法連接 (127.0.0.1:{port}: Connection refused)"


def test_open_on_a_server_that_is_down_raises_delivery_error():
    transport = SmtpTransport("127.0.0.1", free_port(), "none", None, None, timeout=2)
    with pytest.raises(DeliveryError, match="^郵件伺服器無法連接"):
        transport.open()
    transport.close()


@pytest.fixture
def silent_server():
    """A socket that accepts connections and never says a word (no SMTP greeting)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    listener.close()


def test_timeout_is_honoured_when_the_server_never_answers(silent_server):
    transport = SmtpTransport("127.0.0.1", silent_server, "none", None, None, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        transport.send(mail())

    assert time.monotonic() - started < 3
    assert caught.value.reason == (
        f"郵件伺服器沒有回應 (127.0.0.1:{silent_server}: timed out after 0.5 s)"
    )


def test_unknown_security_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="mail.security"):
        SmtpTransport("smtp.example.com", 587, "tls", None, None)


def test_missing_ca_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="mail.ca_file"):
        SmtpTransport("smtp.example.com", 587, "starttls", None, None, ca_file=tmp_path / "no.pem")


# ----- MIME details -----------------------------------------------------------------------


def test_message_id_gets_angle_brackets_and_a_naive_date_gets_an_offset():
    built = build_email(
        outgoing(message_id="bare-id@automation.invalid", images=()),
        SENDER,
        datetime.datetime(2026, 3, 10, 8, 30),
    )
    assert built["Message-ID"] == "<bare-id@automation.invalid>"
    assert built["Date"].datetime.utcoffset() is not None
    assert not built["Date"].endswith("-0000")
    # Without images the HTML part stays a plain text/html alternative.
    assert [part.get_content_type() for part in built.iter_parts()] == ["text/plain", "text/html"]


# ----- Outbox -----------------------------------------------------------------------------

EML_NAME = re.compile(r"^\d{8}-\d{6}-[a-z0-9-]+-[0-9a-f]{8}\.eml$")


def test_outbox_file_names_sort_by_date(tmp_path):
    outbox = OutboxTransport(tmp_path / "outbox")
    sends = [
        ("weekly_review", datetime.datetime(2026, 3, 9, 9, 0, 0, tzinfo=SHANGHAI)),
        ("emergency", datetime.datetime(2026, 3, 10, 14, 5, 9, tzinfo=SHANGHAI)),
        ("supervisor_digest", datetime.datetime(2026, 3, 10, 8, 30, 0, tzinfo=SHANGHAI)),
        ("complaint", datetime.datetime(2026, 2, 28, 23, 59, 59, tzinfo=SHANGHAI)),
    ]
    for kind, date in sends:
        outbox.send(mail(outgoing(kind=kind, message_id=f"<{kind}@automation.invalid>"), date))

    names = sorted(os.listdir(tmp_path / "outbox"))
    assert all(EML_NAME.match(name) for name in names), names
    assert [name[:15] for name in names] == [
        "20260228-235959",
        "20260309-090000",
        "20260310-083000",
        "20260310-140509",
    ]
    assert [name.split("-")[2] for name in names] == ["complaint", "weekly", "supervisor", "emergency"]


def test_outbox_file_is_the_message_with_crlf_line_endings(tmp_path):
    outbox = OutboxTransport(tmp_path)
    message = outgoing()
    built = mail(message)

    path = outbox.send(built)

    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 10
    assert data == built.as_bytes(policy=email.policy.SMTP)
    assert_same_message(parse(data), message)
    assert outbox.describe() == f"outbox folder {tmp_path}"


def test_outbox_leaves_no_temporary_file_after_success_or_failure(tmp_path):
    outbox = OutboxTransport(tmp_path)
    outbox.send(mail(outgoing(message_id="<first@automation.invalid>")))
    # A directory where the next file should go makes the final rename fail after the
    # temporary file was written.
    second = mail(outgoing(message_id="<second@automation.invalid>"))
    (tmp_path / eml_file_name(second)).mkdir()

    with pytest.raises(DeliveryError, match=re.escape(str(tmp_path))):
        outbox.send(second)

    entries = sorted(os.listdir(tmp_path))
    assert len(entries) == 2 and all(EML_NAME.match(name) for name in entries)
    assert [name for name in entries if (tmp_path / name).is_file()] == [
        eml_file_name(mail(outgoing(message_id="<first@automation.invalid>")))
    ]


def test_outbox_folder_that_cannot_be_created_is_a_delivery_error(tmp_path):
    not_a_folder = tmp_path / "outbox"
    not_a_folder.write_text("a file where the folder should be")
    outbox = OutboxTransport(not_a_folder / "messages")

    with pytest.raises(DeliveryError) as caught:
        outbox.send(mail())

    assert caught.value.reason.startswith("無法寫入郵件到資料夾 ")
    assert str(not_a_folder / "messages") in caught.value.reason
