"""Certificates made at test time with openssl: a CA, a server certificate it signs
(for 127.0.0.1 and localhost) as PEM files and as a PKCS#12 keystore (a Kafka
broker's), and client certificates it signs.

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
    keystore: Path  # the server's key and certificate chain (PKCS#12)
    keystore_password: str
    certificate: Path  # the server's certificate (PEM)
    key: Path  # and its key (PEM, not encrypted)
    ca_key: Path  # the CA's key, to sign client certificates with


@dataclass(frozen=True)
class ClientCertificate:
    certificate: Path  # PEM, signed by the CA
    key: Path  # PEM, not encrypted


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


def _signed(
    directory: Path, name: str, subject: str, extensions: str, ca: Path, ca_key: Path
) -> tuple[Path, Path]:
    """A key and a certificate for `subject` with `extensions`, signed by the CA (PEM)."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    extfile = directory / f"{name}.ext"
    extfile.write_text(extensions, encoding="utf-8")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={subject}",
        "-keyout", str(key), "-out", str(csr),
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", DAYS, "-extfile", str(extfile), "-out", str(cert),
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_server_certificates(directory: Path, password: str) -> ServerCertificates:
    """A CA and a server certificate it signs, for 127.0.0.1 and localhost."""
    ca, ca_key = make_ca(directory, "test-ca")
    cert, key = _signed(
        directory,
        "broker",
        "localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n",
        ca,
        ca_key,
    )
    keystore = directory / "broker.p12"
    _openssl(
        "pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca),
        "-name", "broker", "-out", str(keystore), "-passout", f"pass:{password}",
        cwd=directory,
    )  # fmt: skip
    return ServerCertificates(ca, keystore, password, cert, key, ca_key)


def make_client_certificate(
    directory: Path, ca: Path, ca_key: Path, name: str
) -> ClientCertificate:
    """A client certificate for `name` (its CN), signed by the CA."""
    extensions = "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    cert, key = _signed(directory, name, name, extensions, ca, ca_key)
    return ClientCertificate(cert, key)
