"""The one version of the exchange's APIs: every component's `API-Version` header and `info.version`.

The gateway and the three services ship together (one package, one release), so they share one
version: this constant, equal to the package's `version` in pyproject.toml (a unit test holds the
two together). A service whose API must one day move on its own gets its own constant here, beside
this one, and its `config.VERSION` points at it; the header and the document still read the same name.
"""

from __future__ import annotations

API_VERSION = "0.3.0"
