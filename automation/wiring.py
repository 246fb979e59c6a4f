"""The one place where configuration becomes concrete backends and transports."""

from __future__ import annotations

import os

from .config import CenterConfig, Config
from .errors import ConfigError


def backend_for(center: CenterConfig, config: Config):
    if center.backend == "google":
        from .adapters.google import GoogleSheetsBackend

        return GoogleSheetsBackend.from_config(center, config)
    from .adapters.workbook import WorkbookBackend

    return WorkbookBackend(center.path, center.name, max_bytes=config.max_workbook_mb * 1024 * 1024)


def stamp_source_for(center: CenterConfig):
    """Something cheaper than the backend that gives the sheet's change stamp (SPEC 7), or None
    when the backend itself is the cheapest (Google: its Drive request needs its credentials)."""
    if center.backend == "google":
        return None
    from .adapters.file_stamp import FileStamp

    return FileStamp(center.path)


def transport_for(config: Config):
    mail = config.mail
    if mail.transport == "smtp":
        from .adapters.smtp import SmtpTransport

        password = None
        if mail.password_env:
            password = os.environ.get(mail.password_env)
            if password is None:
                raise ConfigError(
                    f"設定檔 {config.source}：mail.password_env 指定的環境變數 {mail.password_env} 未設定；"
                    f"請在運行環境中設定郵件密碼"
                )
        return SmtpTransport(
            host=mail.host, port=mail.port, security=mail.security, username=mail.username or None,
            password=password, timeout=mail.timeout_seconds,
            ca_file=str(mail.ca_file) if mail.ca_file else None,
        )
    from .adapters.outbox import OutboxTransport

    return OutboxTransport(mail.outbox_dir)
