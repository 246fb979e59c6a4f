"""Local stand-ins for external services used by the tests.

``sheets_api.SheetsStandin`` -- Google Sheets API v4 + OAuth token endpoint on 127.0.0.1;
``service_account.make_service_account_file`` -- real service-account key files for it;
``pytest_plugin`` -- the ``sheets_standin`` / ``service_account`` / ``gspread_client`` fixtures.
"""

from .service_account import make_service_account_file, public_key_pem
from .sheets_api import SheetsStandin

__all__ = ["SheetsStandin", "make_service_account_file", "public_key_pem"]
