"""A real SMTP server on loopback for tests (aiosmtpd), with optional STARTTLS, AUTH and refusals.

    with LoopbackSmtp() as server: ...                       # plain
    with LoopbackSmtp(tls=ca, auth=True) as server: ...      # STARTTLS required, then AUTH

`server.received` holds every accepted message; `server.messages()` parses them with the
standard `email` package. `refuse` lists recipient addresses answered with 550.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from dataclasses import dataclass, field

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "frontdesk"
PASSWORD = "s3cret-Pa55word"


def free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd's Controller cannot use port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test certificate authority; servers get certificates it issues."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> str:
    """The CA's certificate as a file: what a site's `[mail] ca_file` points at."""
    path = tmp_path_factory.mktemp("ca") / "site-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_tls_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    encrypted: bool
    authenticated: bool

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


@dataclass
class _Handler:
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    logins: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            content=envelope.content,
            encrypted=server.transport.get_extra_info("ssl_object") is not None,
            authenticated=bool(session.authenticated),
        ))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        accepted = isinstance(auth_data, LoginPassword) and auth_data == (USERNAME.encode(), PASSWORD.encode())
        if accepted:
            self.logins += 1
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=accepted, handled=False)


class LoopbackSmtp:
    """An aiosmtpd server on 127.0.0.1 for the duration of a `with` block.

    `tls`: a trustme CA; the server then offers STARTTLS with a certificate for 127.0.0.1 and
    requires it before anything else. `auth`: require login (USERNAME / PASSWORD). `port`: listen
    there (a test that starts a server where a config already points), else on a free port."""

    def __init__(self, tls: trustme.CA | None = None, auth: bool = False, refuse: tuple[str, ...] = (),
                 port: int | None = None):
        self.handler = _Handler(refuse=set(refuse))
        self.port = port or free_port()
        kwargs = {}
        if tls is not None:
            kwargs.update(tls_context=server_tls_context(tls, "127.0.0.1", "localhost"), require_starttls=True)
        if auth:
            kwargs.update(authenticator=self.handler.authenticator, auth_required=True,
                          auth_require_tls=tls is not None)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     server_hostname="mail.test", ready_timeout=5, **kwargs)

    def __enter__(self) -> "LoopbackSmtp":
        self.controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def refuse(self) -> set[str]:
        return self.handler.refuse

    @property
    def logins(self) -> int:
        return self.handler.logins

    def messages(self) -> list[email.message.EmailMessage]:
        return [item.parsed() for item in self.received]

    def clear(self) -> None:
        self.handler.received.clear()
