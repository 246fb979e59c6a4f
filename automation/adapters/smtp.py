"""The `smtp` transport: messages sent through a mail server with smtplib.

Certificates and host names are always verified (system trust store, or `ca_file` for a site's
private CA); STARTTLS is never skipped when asked for. Every failure becomes a DeliveryError
whose reason is a short Traditional Chinese sentence with the technical cause in brackets; the
password never appears in a reason, an exception text, a repr or a log line.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from email.message import EmailMessage

from automation.adapters.ports import Transport
from automation.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

# Longest piece of a server reply quoted in a reason.
MAX_REPLY_CHARS = 120


class _Secret:
    """Holds the password so that no repr, vars() dump or traceback of locals shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class SmtpTransport(Transport):
    """Sends messages through an SMTP server.

    `security`: "starttls" (plain connection upgraded with STARTTLS, refused if the server does
    not offer it), "ssl" (TLS from the first byte, SMTP_SSL) or "none" (no encryption; a
    username and password are then sent in the clear, which only suits a trusted local relay).
    `port` 0 or None means the usual port of the mode (587, 465, 25). `timeout` (seconds)
    bounds connecting and every exchange with the server. `local_hostname` is the name given in
    EHLO (default: this machine's fully qualified name).

    `send` works on its own, opening and closing a connection per message. Between `open()` and
    `close()` (or inside `with transport:`) one connection is reused by every `send`; it is
    checked with NOOP before reuse and reopened if the server dropped it, and dropped after a
    failed send so the next one starts clean.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        security: str,
        username: str | None,
        password: str | None,
        timeout: float = 30,
        ca_file: str | os.PathLike | None = None,
        local_hostname: str | None = None,
    ):
        if security not in SECURITY_MODES:
            raise ConfigError(
                f"mail.security 必須是 {' / '.join(SECURITY_MODES)} 之一，而不是 {security!r}"
            )
        if not host:
            raise ConfigError("mail.host 缺失：smtp 傳送需要郵件伺服器地址")
        if username and password is None:
            raise ConfigError("mail.username 已設定，但沒有提供密碼 (mail.password_env)")
        self.host = host
        self.port = int(port) if port else DEFAULT_PORTS[security]
        self.security = security
        self.username = username or None
        self._password = _Secret(password or "")
        self.timeout = float(timeout)
        self.ca_file = os.fspath(ca_file) if ca_file else None
        self.local_hostname = local_hostname
        self._tls_context = None if security == "none" else self._make_tls_context()
        self._connection: smtplib.SMTP | None = None
        self._keep_open = False

    def _make_tls_context(self) -> ssl.SSLContext:
        """A client context that verifies the certificate chain and the host name, trusting the
        system store, or `ca_file` instead when one is configured."""
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"mail.ca_file 無法讀取為 CA 證書：{self.ca_file} ({detail})") from None

    # ----- description ---------------------------------------------------------------------

    def describe(self) -> str:
        """A short human description, e.g. `smtp smtp.example.com:587 (starttls)`."""
        return f"smtp {self.host}:{self.port} ({self.security})"

    def __repr__(self) -> str:
        password = "'***'" if self._password.reveal() else "None"
        return (
            f"SmtpTransport(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={password}, timeout={self.timeout}, "
            f"ca_file={self.ca_file!r})"
        )

    # ----- connection lifetime -------------------------------------------------------------

    def open(self) -> None:
        """Connect now and keep the connection for the following sends, until `close()`.

        Raises DeliveryError when the server cannot be reached, the certificate is not trusted
        or the login is refused.
        """
        if self._connection is None:
            self._connection = self._connect()
        self._keep_open = True

    def close(self) -> None:
        """End the kept connection politely (QUIT) if there is one; never raises."""
        self._keep_open = False
        connection, self._connection = self._connection, None
        if connection is not None:
            _quit_quietly(connection)

    def __enter__(self) -> "SmtpTransport":
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ----- sending -------------------------------------------------------------------------

    def send(self, email_message: EmailMessage) -> None:
        """Send one message; the envelope sender and recipients come from its From/To headers.

        Raises DeliveryError if the message was not accepted for every recipient.
        """
        connection = self._connection_for_send()
        try:
            refused = connection.send_message(email_message)
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            self._drop(connection)
            raise self._delivery_error(exc, phase="send") from self._safe_cause(exc)
        if refused:
            # Some recipients accepted and some refused: each message here has one recipient,
            # so any refusal means the message did not reach its reader.
            self._drop(connection)
            raise DeliveryError(f"收件人被拒絕 ({_describe_refusals(refused)})")
        log.debug(
            "sent %s via %s", email_message.get("Message-ID", "(no Message-ID)"), self.describe()
        )
        if not self._keep_open:
            _quit_quietly(connection)

    def send_reporting(self, email_message: EmailMessage) -> list[str]:
        """Send one message on a connection of its own, step by step, and return the server's
        replies (greeting, login, MAIL, RCPT, DATA) as lines; DeliveryError naming the cause
        (unreachable host, untrusted certificate, refused login, refused address) otherwise."""
        connection = self._connect()
        replies = [f"EHLO：{_reply(250, connection.ehlo_resp).splitlines()[0] if connection.ehlo_resp else '250'}"]
        if self.username:
            replies.append(f"AUTH：{self.username} 登入成功")
        sender = email_message["From"].addresses[0].addr_spec
        recipient = email_message["To"].addresses[0].addr_spec
        phase = "send"
        try:
            code, text = connection.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, sender)
            replies.append(f"MAIL FROM:<{sender}>：{_reply(code, text)}")
            code, text = connection.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
            replies.append(f"RCPT TO:<{recipient}>：{_reply(code, text)}")
            code, text = connection.data(email_message.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, text)
            replies.append(f"DATA：{_reply(code, text)}")
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            _close_quietly(connection)
            raise self._delivery_error(exc, phase=phase) from self._safe_cause(exc)
        _quit_quietly(connection)
        return replies

    def _connection_for_send(self) -> smtplib.SMTP:
        """The kept connection if it still answers, else a new one (kept if `open()` was
        called, used for this message only otherwise)."""
        if not self._keep_open:
            return self._connect()
        if self._connection is not None:
            try:
                code, _ = self._connection.noop()
                if code == 250:
                    return self._connection
            except (smtplib.SMTPException, OSError):
                pass
            self._drop(self._connection)
        self._connection = self._connect()
        return self._connection

    def _drop(self, connection: smtplib.SMTP) -> None:
        """Close `connection` without QUIT and forget it if it is the kept one."""
        if connection is self._connection:
            self._connection = None
        try:
            connection.close()
        except OSError:
            pass

    def _connect(self) -> smtplib.SMTP:
        """Connect, greet, secure and log in as configured; raise DeliveryError on failure."""
        phase = "connect"
        connection: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                connection = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._tls_context,
                )
            else:
                connection = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            connection.ehlo()
            if self.security == "starttls":
                phase = "starttls"
                if not connection.has_extn("starttls"):
                    raise DeliveryError(
                        f"郵件伺服器不支援 STARTTLS ({self.host}:{self.port}: "
                        f"no STARTTLS in EHLO reply)"
                    )
                connection.starttls(context=self._tls_context)
                connection.ehlo()
            if self.username:
                phase = "login"
                if not connection.has_extn("auth"):
                    raise DeliveryError(
                        f"郵件伺服器不支援登入 ({self.host}:{self.port}: no AUTH in EHLO reply)"
                    )
                connection.login(self.username, self._password.reveal())
        except DeliveryError:
            if connection is not None:
                _close_quietly(connection)
            raise
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            if connection is not None:
                _close_quietly(connection)
            error = self._delivery_error(exc, phase=phase)
            # smtplib's login frames hold the password as a local variable: do not chain them.
            cause = None if phase == "login" else self._safe_cause(exc)
            raise error from cause
        return connection

    # ----- error translation ---------------------------------------------------------------

    def _safe_cause(self, exc: BaseException) -> BaseException | None:
        """`exc` to chain as the cause, or None if its text contains the password."""
        password = self._password.reveal()
        if password and password in str(exc):
            return None
        return exc

    def _redact(self, text: str) -> str:
        password = self._password.reveal()
        if password:
            text = text.replace(password, "***")
        return text

    def _delivery_error(self, exc: BaseException, phase: str) -> DeliveryError:
        """Translate a smtplib, socket or ssl failure into a DeliveryError with a short Chinese
        reason and the technical cause in brackets; `phase` is connect, starttls, login or send."""
        return DeliveryError(self._redact(self._reason(exc, phase)))

    def _reason(self, exc: BaseException, phase: str) -> str:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return f"郵件伺服器拒絕登入 ({_reply(exc.smtp_code, exc.smtp_error)})"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return f"收件人被拒絕 ({_describe_refusals(exc.recipients) or 'no recipient'})"
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return f"寄件人地址被拒絕 ({exc.sender}: {_reply(exc.smtp_code, exc.smtp_error)})"
        if isinstance(exc, smtplib.SMTPDataError):
            return f"郵件伺服器拒收郵件內容 ({_reply(exc.smtp_code, exc.smtp_error)})"
        if isinstance(exc, smtplib.SMTPConnectError):
            return f"郵件伺服器拒絕連線 ({where}: {_reply(exc.smtp_code, exc.smtp_error)})"
        if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
            exc.__context__, TimeoutError
        ):
            # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
            return f"郵件伺服器沒有回應 ({where}: timed out after {self.timeout:g} s)"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"郵件伺服器中斷了連線 ({where}: {_short(str(exc)) or 'disconnected'})"
        if isinstance(exc, smtplib.SMTPResponseException):
            if phase == "starttls":
                return f"郵件伺服器拒絕 STARTTLS ({_reply(exc.smtp_code, exc.smtp_error)})"
            return f"郵件伺服器拒絕請求 ({_reply(exc.smtp_code, exc.smtp_error)})"
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return f"郵件伺服器不支援所需功能 ({where}: {_short(str(exc))})"
        if isinstance(exc, smtplib.SMTPException):
            return f"郵件傳送失敗 ({where}: {_short(str(exc))})"
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or exc.reason or str(exc)
            return f"伺服器證書不受信任 ({where}: {_short(str(detail))})"
        if isinstance(exc, ssl.SSLError):
            return f"無法與郵件伺服器建立加密連線 ({where}: {_short(exc.reason or str(exc))})"
        if isinstance(exc, TimeoutError):  # socket.timeout is an alias since Python 3.10
            return f"郵件伺服器沒有回應 ({where}: timed out after {self.timeout:g} s)"
        if isinstance(exc, socket.gaierror):
            return f"找不到郵件伺服器 ({self.host}: {exc.strerror or exc})"
        if isinstance(exc, UnicodeError) and phase == "login":
            # smtplib encodes AUTH exchanges as ASCII.
            return "無法登入郵件伺服器 (username or password has non-ASCII characters)"
        if isinstance(exc, UnicodeError):
            return f"郵件地址或內容無法經 SMTP 傳送 ({_short(str(exc))})"
        if isinstance(exc, OSError):
            detail = exc.strerror or str(exc) or exc.__class__.__name__
            if phase == "connect":
                return f"郵件伺服器無法連接 ({where}: {detail})"
            return f"與郵件伺服器的連線中斷 ({where}: {detail})"
        return f"郵件傳送失敗 ({where}: {exc.__class__.__name__})"


def _short(text: str) -> str:
    """One line, at most MAX_REPLY_CHARS characters."""
    text = " ".join(str(text).split())
    if len(text) > MAX_REPLY_CHARS:
        text = text[: MAX_REPLY_CHARS - 1] + "…"
    return text


def _reply(code: int | None, message: bytes | str | None) -> str:
    """A server reply as `550 5.1.1 User unknown`, shortened."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = _short(message or "")
    return f"{code} {text}".strip() if code is not None else text


def _describe_refusals(refused: dict) -> str:
    """`a@x: 550 ...; b@y: 553 ...` from smtplib's {address: (code, message)}."""
    return "; ".join(f"{address}: {_reply(code, message)}" for address, (code, message) in refused.items())


def _quit_quietly(connection: smtplib.SMTP) -> None:
    """Say QUIT; if the server already went away the message was accepted anyway."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        _close_quietly(connection)


def _close_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.close()
    except OSError:
        pass
