"""The Google Sheets backend (SPEC 5 `backend = "google"`), layered like gspread itself; each
module imports only those above it in this list:

- `http`: the gspread `HTTPClient` subclass every request goes through — endpoint rewrite
  (`api_endpoint`), timeouts, bounded retries with backoff, the shared request quota, counting;
- `client`: the service-account key file, the google-auth credentials and the gspread client,
  and the translation of Google's answers into the worker's errors;
- `batch`: pure builders of `spreadsheets.batchUpdate` requests (cells, tabs, log rows, size
  limits), no I/O;
- `layout`: what `spreadsheets.get` says about a spreadsheet (tabs, write marker, lease record);
- `session`: one spreadsheet as the worker talks to it — the layout cache, error translation,
  every batchUpdate sent with its write marker and lease fence;
- `placement`: where a write lands now that staff may have moved rows and columns;
- `setup` (`init`), `lease` (one worker per sheet), and `backend`: `GoogleSheetsBackend`, the
  `SheetBackend` the cycle uses, which brings them together.
"""

from .backend import GoogleSheetsBackend

__all__ = ["GoogleSheetsBackend"]
