"""Where the client looks for chiffon unless told (--url, CHIFFON_URL)."""

from typing import Final

DEFAULT_URL: Final = "http://127.0.0.1:8080"
