"""Service-account key files for tests.

:func:`make_service_account_file` writes a real Google service-account JSON key file -- a fresh
2048-bit RSA key in PKCS#8 PEM, the same fields Google's console produces -- whose
``token_uri`` points at the local stand-in.  ``google.oauth2.service_account.Credentials``
reads it unchanged, signs its JWT with the private key and posts it to that token URI; the
stand-in verifies the signature with the public key registered for the file's
``private_key_id`` (pass ``standin=`` to register it here, or call
``standin.register_key(email, key_id, public_key_pem(info))`` yourself).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_CLIENT_EMAIL = "reception-worker@standin-project.iam.gserviceaccount.com"


def make_service_account_file(path: str | os.PathLike, token_uri: str,
                              client_email: str = DEFAULT_CLIENT_EMAIL, *,
                              project_id: str | None = None, standin: Any = None,
                              key_size: int = 2048) -> dict:
    """Generate a key, write the key file at ``path`` and return its contents as a dict.

    ``standin`` (a :class:`tests.standin.sheets_api.SheetsStandin`) -- if given, the public key
    is registered with it so the token endpoint accepts JWTs signed with this key.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    if project_id is None:
        domain = client_email.split("@", 1)[-1]
        project_id = domain.split(".", 1)[0] if domain.endswith(".iam.gserviceaccount.com") \
            else "standin-project"
    key_id = secrets.token_hex(20)
    client_id = str(100000000000000000000 + secrets.randbelow(10 ** 20))
    quoted_email = client_email.replace("@", "%40")
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quoted_email}",
        "universe_domain": "googleapis.com",
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if standin is not None:
        standin.register_key(client_email, key_id, public_key_pem(info))
    return info


def public_key_pem(info: dict) -> bytes:
    """The PEM public key that belongs to a key file's ``private_key``."""
    key = serialization.load_pem_private_key(info["private_key"].encode("ascii"), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
