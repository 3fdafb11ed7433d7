"""A few admin calls on the bench's API server, with the admin client certificate of its kubeconfig.

The bench waits on the cluster while it starts (node Ready, ServiceAccounts) many times a second; a
kubectl process per poll would cost more than the wait.
"""

from __future__ import annotations

import base64
import functools
import json
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ApiUnavailable(RuntimeError):
    """The API server did not answer, or answered with an error other than 404."""


@dataclass(frozen=True)
class Admin:
    server: str
    context: ssl.SSLContext

    @staticmethod
    @functools.cache
    def from_kubeconfig(path: Path) -> Admin:
        config = json.loads(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory) / "c.pem", Path(directory) / "k.pem"
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            context.load_cert_chain(str(cert), str(key))
        return Admin(cluster["server"], context)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        request = urllib.request.Request(
            self.server + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=5) as response:
                found: dict[str, Any] = json.loads(response.read())
                return found
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise ApiUnavailable(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from exc
        except (OSError, ValueError) as exc:
            raise ApiUnavailable(f"{method} {path}: {exc}") from exc

    def get(self, path: str) -> dict[str, Any] | None:
        return self._call("GET", path)

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return self._call("POST", collection, body)
