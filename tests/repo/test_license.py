"""The repository carries the full text of the license that pyproject.toml declares."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# sha256 of sections 1 to 9 of the Apache License 2.0 as published (from "TERMS AND CONDITIONS FOR USE" up to
# "END OF TERMS AND CONDITIONS"), white space folded to single spaces: any edit, cut or truncation changes it.
APACHE_2_TERMS_SHA256 = "efc42672d5e2255417ab2bbcef2a39e8400f0ab6d32f4c790d95a3640087923c"


def test_license_file_holds_the_declared_license_in_full() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert re.match(r"\s*Apache License\s+Version 2\.0, January 2004\b", text), text[:200]
    start = text.index("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION")
    end = text.index("END OF TERMS AND CONDITIONS")
    terms = " ".join(text[start:end].split())
    assert hashlib.sha256(terms.encode()).hexdigest() == APACHE_2_TERMS_SHA256
    # The appendix tells others how to apply it; it belongs to the text as published.
    assert "APPENDIX: How to apply the Apache License to your work." in text
