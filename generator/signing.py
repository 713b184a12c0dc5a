"""Signed Apple profiles: CMS SignedData (DER) with the signer's certificate and chain, built by ``cryptography``.

The certificate is checked before anything is rendered: it must be valid now, usable for
signatures (key usage ``digitalSignature``; an extended key usage, if any, must allow
e-mail protection, code signing or any purpose), and match the private key. The key's
passphrase comes only from the environment (``MAILPROFILES_SIGN_PASSPHRASE``).

The signature carries no signed attributes (so no signing time): with an RSA key the same
profile gives the same signed bytes on every run, and a rerun rewrites nothing. ECDSA
signatures are randomized by the algorithm, so with an EC key every run signs anew.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import InputFileError

PASSPHRASE_VARIABLE = "MAILPROFILES_SIGN_PASSPHRASE"
MAX_PEM_BYTES = 1024 * 1024
SIGNING_USAGES = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CODE_SIGNING,
                  ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


@dataclass(frozen=True)
class Signer:
    """A checked certificate, its private key and chain; signs profiles as CMS SignedData."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def identity(self) -> bytes:
        """The certificates that sign (a new certificate or chain re-signs every profile)."""
        return b"".join(c.public_bytes(serialization.Encoding.DER) for c in (self.certificate, *self.chain))

    def sign(self, content: bytes) -> bytes:
        builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(self.certificate, self.key,
                                                                              hashes.SHA256())
        for certificate in self.chain:
            builder = builder.add_certificate(certificate)
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoAttributes])

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


def _read(path: Path, what: str) -> bytes:
    try:
        if not path.is_file():
            raise InputFileError(f"{what} {path} is not a regular file")
        if path.stat().st_size > MAX_PEM_BYTES:
            raise InputFileError(f"{what} {path} is larger than {MAX_PEM_BYTES:,} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError:
        raise InputFileError(f"{what} {path} holds no PEM certificate") from None
    return found


def load_signer(cert: Path, key: Path, chain: Path | None = None,
                now: datetime.datetime | None = None) -> Signer:
    """The signer, or an :class:`InputFileError` that says what is wrong with the certificate or key."""
    certificate = _certificates(cert, "--sign-cert")[0]
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    try:
        private = serialization.load_pem_private_key(_read(key, "--sign-key"),
                                                     passphrase.encode() if passphrase is not None else None)
    except TypeError:
        raise InputFileError(f"--sign-key {key} is encrypted: put its passphrase into the environment variable "
                             f"{PASSPHRASE_VARIABLE}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputFileError(f"--sign-key {key} is not a PEM private key, or {PASSPHRASE_VARIABLE} does not "
                             "open it") from None
    if not isinstance(private, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise InputFileError(f"--sign-key {key}: only RSA and EC keys can sign a CMS profile")
    _check(certificate, private, cert, now or datetime.datetime.now(datetime.timezone.utc))
    extra = tuple(_certificates(chain, "--sign-chain")) if chain is not None else ()
    return Signer(certificate, private, extra)


def _check(certificate: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, path: Path,
           now: datetime.datetime) -> None:
    subject = certificate.subject.rfc4514_string()
    if now < certificate.not_valid_before_utc:
        raise InputFileError(f"--sign-cert {path} ({subject}) is not valid yet: from "
                             f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > certificate.not_valid_after_utc:
        raise InputFileError(f"--sign-cert {path} ({subject}) expired on "
                             f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise InputFileError(f"--sign-cert {path} ({subject}) is not for signing: its key usage lacks "
                                 "digitalSignature")
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        if not purposes & SIGNING_USAGES:
            raise InputFileError(f"--sign-cert {path} ({subject}) is not for signing: its extended key usage "
                                 "allows neither e-mail protection nor code signing")
    except x509.ExtensionNotFound:
        pass
    public = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo) != public:
        raise InputFileError(f"--sign-key does not belong to --sign-cert {path} ({subject})")
