"""The generated tabs' digests in a local workbook (SPEC 7): one custom document property per
tab, `reception-worker.digest.<title>`, holding the digest of what the worker last wrote there.

Written into the workbook in the same save as the tabs (the file is replaced whole), so a digest
never names content the file does not hold. Read from the package's `docProps/custom.xml`
without parsing the workbook. One property per tab keeps each value short: office programs
keep custom properties of up to 255 characters."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

PREFIX = "reception-worker.digest."
_CUSTOM_PART = "docProps/custom.xml"
_PROPERTY = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}property"


def digests_in_file(path: Path) -> dict[str, str]:
    """Generated tab title → digest, as the workbook file at `path` keeps them ({} for none, or
    for a package that cannot be read: then every generated tab is read and compared)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if _CUSTOM_PART not in archive.namelist():
                return {}
            root = ElementTree.fromstring(archive.read(_CUSTOM_PART))
    except (OSError, zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError):
        return {}
    found = {}
    for item in root.iter(_PROPERTY):
        name = item.get("name") or ""
        if name.startswith(PREFIX) and len(item):
            found[name[len(PREFIX):]] = "".join(item[0].itertext())
    return found


def keep_digests(book, digests: dict[str, str]) -> None:
    """Set the digests in `book` (an openpyxl workbook), to be saved with it; the digests of
    titles no longer generated are dropped."""
    from openpyxl.packaging.custom import StringProperty

    properties = book.custom_doc_props
    for name in [p.name for p in properties.props if p.name.startswith(PREFIX)]:
        del properties[name]
    for title, digest in sorted(digests.items()):
        properties.append(StringProperty(name=PREFIX + title, value=digest))
