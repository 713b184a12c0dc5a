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
import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import InputFileError, excerpt
from ..inventory.bounds import Unreadable, read_regular
from ..output.safefs import describe

PASSPHRASE_VARIABLE = "MAILPROFILES_SIGN_PASSPHRASE"
MAX_PEM_BYTES = 1024 * 1024
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
SIGNING_USAGES = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CODE_SIGNING,
                  ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


@dataclass(frozen=True)
class Signer:
    """A checked certificate, its private key and chain; signs profiles as CMS SignedData."""

    certificate: x509.Certificate
    key: PrivateKey
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


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,60})-----\r?\n.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"}
_UNREADABLE = (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension)   # cryptography parses lazily


def _read(path: Path, what: str) -> bytes:
    """The file's bytes: a regular file (never a FIFO or device: opened without blocking), bounded, not empty."""
    read = read_regular(path, MAX_PEM_BYTES)
    if isinstance(read, Unreadable):
        if read.kind == "special":
            raise InputFileError(f"{what} {path} is {describe(read.mode)}, not a regular file")
        if read.kind == "too_big":
            raise InputFileError(f"{what} {path} is larger than {MAX_PEM_BYTES:,} bytes")
        detail = os.strerror(errno.ENOENT) if read.kind == "missing" else read.detail
        raise InputFileError(f"cannot read {what} {path}: {detail}")
    if not read.strip():
        raise InputFileError(f"{what} {path} is empty")
    return read


def _blocks(data: bytes, path: Path, what: str, convert: str) -> list[tuple[str, bytes]]:
    """The PEM blocks of a file, with their labels; a file without any is named with what it looks like."""
    found = [(m.group(1).decode("ascii"), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    if found:
        return found
    if data[:1] == b"\x30":
        raise InputFileError(f"{what} {path} is DER, not PEM: convert it with 'openssl {convert} -inform DER -in "
                             f"{path} -out {path.name}.pem'")
    raise InputFileError(f"{what} {path} holds no PEM block (-----BEGIN ...-----)")


def _certificates(path: Path, what: str, only: bool = False) -> list[x509.Certificate]:
    """The certificates of a PEM file, each read whole; ``only``: any other block is refused."""
    blocks = _blocks(_read(path, what), path, what, "x509")
    found: list[x509.Certificate] = []
    for number, (label, block) in enumerate(blocks, 1):
        if label != "CERTIFICATE":
            if only:
                raise InputFileError(f"{what} {path}: PEM block {number} is a {label}, not a CERTIFICATE (the file "
                                     "holds the intermediate certificates only)")
            continue
        try:
            certificate = x509.load_pem_x509_certificate(block)
            _inspect(certificate)
        except x509.DuplicateExtension as exc:
            raise InputFileError(f"{what} {path}: certificate {len(found) + 1} has the extension {exc.oid.dotted_string} "
                                 f"({getattr(exc.oid, '_name', 'unknown')}) more than once, which X.509 forbids: "
                                 "issue it anew") from None
        except _UNREADABLE as exc:
            raise InputFileError(f"{what} {path}: certificate {len(found) + 1} cannot be read "
                                 f"({excerpt(str(exc), 120)})") from None
        found.append(certificate)
    if not found:
        raise InputFileError(f"{what} {path} holds no PEM certificate (it has: "
                             f"{', '.join(sorted({label for label, _ in blocks}))})")
    return found


def _inspect(certificate: x509.Certificate) -> None:
    """Read every part that cryptography parses only when asked, so that a broken one fails here."""
    certificate.subject.rfc4514_string()
    certificate.issuer.rfc4514_string()
    _ = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    for extension in certificate.extensions:
        _ = extension.value
    try:
        certificate.public_key()
    except UnsupportedAlgorithm:
        pass                 # named by its key type where the signer's certificate is checked


def _private_key(path: Path) -> PrivateKey:
    """The key, opened with the passphrase from the environment exactly when it is encrypted."""
    data = _read(path, "--sign-key")
    blocks = _blocks(data, path, "--sign-key", "pkey")
    if not any(label.encode() in _KEY_LABELS for label, _ in blocks):
        raise InputFileError(f"--sign-key {path} holds no PEM private key (it has: "
                             f"{', '.join(sorted({label for label, _ in blocks}))})")
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    try:
        private = serialization.load_pem_private_key(data, None)
    except TypeError:        # encrypted
        if not passphrase:
            raise InputFileError(f"--sign-key {path} is encrypted: put its passphrase into the environment variable "
                                 f"{PASSPHRASE_VARIABLE}") from None
        try:
            private = serialization.load_pem_private_key(data, passphrase.encode())
        except (ValueError, TypeError):
            raise InputFileError(f"--sign-key {path}: {PASSPHRASE_VARIABLE} does not open it (a wrong passphrase?)") \
                from None
        except UnsupportedAlgorithm as exc:
            raise InputFileError(f"--sign-key {path}: its encryption is not supported ({excerpt(str(exc), 120)}); "
                                 "convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputFileError(f"--sign-key {path}: the private key cannot be read ({excerpt(str(exc), 120)})") from None
    else:
        if passphrase is not None:
            raise InputFileError(f"--sign-key {path} is not encrypted: unset {PASSPHRASE_VARIABLE} (it is only for an "
                                 "encrypted key)")
    if not isinstance(private, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise InputFileError(f"--sign-key {path} is {_kind(private)} key: only RSA and EC keys can sign a CMS profile")
    return private


def _kind(key: object) -> str:
    name = type(key).__name__.removesuffix("PublicKey").removesuffix("PrivateKey").removeprefix("_")
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"


def load_signer(cert: Path, key: Path, chain: Path | None = None,
                now: datetime.datetime | None = None) -> Signer:
    """The signer, or an :class:`InputFileError` that says what is wrong with the certificate, key or chain."""
    certificate = _certificates(cert, "--sign-cert")[0]
    subject = certificate.subject.rfc4514_string()
    try:
        public = certificate.public_key()
    except UnsupportedAlgorithm as exc:
        raise InputFileError(f"--sign-cert {cert} ({subject}) has a key of a type that cannot be read "
                             f"({excerpt(str(exc), 120)}): only RSA and EC certificates can sign a CMS profile") from None
    if not isinstance(public, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise InputFileError(f"--sign-cert {cert} ({subject}) has {_kind(public)} key: only RSA and EC certificates "
                             "can sign a CMS profile")
    private = _private_key(key)
    _check(certificate, private, cert, key, now or datetime.datetime.now(datetime.timezone.utc))
    extra = tuple(_certificates(chain, "--sign-chain", only=True)) if chain is not None else ()
    return Signer(certificate, private, extra)


def _check(certificate: x509.Certificate, key: PrivateKey, path: Path, key_path: Path,
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
        raise InputFileError(f"--sign-key {key_path} does not belong to --sign-cert {path} ({subject}): their public "
                             "keys differ")
