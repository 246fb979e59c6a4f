"""The Google Sheets backend (`backend = "google"`); wiring.py imports it from here.

The implementation lives in the package automation/adapters/google/ (http client, gspread
client and credentials, batch builders, backend, init)."""

from .google import GoogleSheetsBackend

__all__ = ["GoogleSheetsBackend"]
