"""Adapters: sheet backends (local workbook, Google Sheets) and mail transports (outbox, SMTP)."""
