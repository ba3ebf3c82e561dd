"""Certificates made at test time with openssl: a CA, a broker certificate it signs
(for 127.0.0.1 and localhost), and the broker's PKCS#12 keystore.

Nothing is checked in: every run has its own keys, and a second, unrelated CA
stands for "a certificate the client does not trust".
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"  # a test's certificates need not outlive it


@dataclass(frozen=True)
class ServerCertificates:
    ca: Path  # the CA's certificate (PEM): what clients trust
    keystore: Path  # the broker's key and certificate chain (PKCS#12)
    keystore_password: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: its certificate and key (PEM)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS,
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_server_certificates(directory: Path, password: str) -> ServerCertificates:
    """A CA and a broker certificate it signs, for 127.0.0.1 and localhost."""
    ca, ca_key = make_ca(directory, "test-ca")
    key, csr, cert = directory / "broker.key", directory / "broker.csr", directory / "broker.pem"
    extensions = directory / "broker.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n",
        encoding="utf-8",
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(csr),
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", DAYS, "-extfile", str(extensions), "-out", str(cert),
        cwd=directory,
    )  # fmt: skip
    keystore = directory / "broker.p12"
    _openssl(
        "pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca),
        "-name", "broker", "-out", str(keystore), "-passout", f"pass:{password}",
        cwd=directory,
    )  # fmt: skip
    return ServerCertificates(ca, keystore, password)
