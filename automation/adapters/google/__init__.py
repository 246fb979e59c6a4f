"""The Google Sheets backend (SPEC 5 `backend = "google"`), layered like gspread itself:

- `http`: the gspread `HTTPClient` subclass every request goes through — endpoint rewrite
  (`api_endpoint`), timeouts, bounded retries with backoff, the shared request quota, counting;
- `client`: the service-account key file, the google-auth credentials and the gspread client,
  and the translation of Google's answers into the worker's errors;
- `batch`: pure builders of `spreadsheets.batchUpdate` requests (cells, tabs, log rows, size
  limits), no I/O;
- `backend`: `GoogleSheetsBackend`, the `SheetBackend` the cycle uses.
"""

from .backend import GoogleSheetsBackend

__all__ = ["GoogleSheetsBackend"]
