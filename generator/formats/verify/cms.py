"""CMS SignedData, read with asn1crypto and checked with cryptography: the signature, then the content.

A signed profile must carry its content (not detached), exactly one signer whose certificate
is included, SHA-256, and a signature that verifies with that certificate's key over the
content (or over the signed attributes, whose message digest must then be the content's).
"""
from __future__ import annotations

import hashlib

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ...errors import ReadBackError


def is_signed(content: bytes) -> bool:
    """DER (a SEQUENCE) rather than the XML text of a plain profile."""
    return content[:1] == b"\x30"


def unwrap(content: bytes) -> tuple[bytes, x509.Certificate]:
    """The signed content and the signer's certificate; ReadBackError when anything does not hold."""
    try:
        info = cms.ContentInfo.load(content, strict=True)
        if info["content_type"].native != "signed_data":
            raise ReadBackError("the CMS structure is not SignedData")
        signed = info["content"]
        inner = signed["encap_content_info"]["content"].native
        signers = list(signed["signer_infos"])
        certificates = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or ()]
    except (ValueError, TypeError) as exc:
        raise ReadBackError(f"the signed profile cannot be read as CMS: {exc}") from None
    if not isinstance(inner, bytes):
        raise ReadBackError("the signed profile does not carry its content (detached signature)")
    if len(signers) != 1:
        raise ReadBackError(f"expected one signer, found {len(signers)}")
    signer = signers[0]
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise ReadBackError("the signer is not named by issuer and serial number")
    serial = sid.chosen["serial_number"].native
    matching = [c for c in certificates if c.serial_number == serial]
    if not matching:
        raise ReadBackError("the signer's certificate is not included")
    certificate = matching[0]
    if signer["digest_algorithm"]["algorithm"].native != "sha256":
        raise ReadBackError("the digest is not SHA-256")
    signed_data = inner
    attributes = signer["signed_attrs"]
    if attributes.native is not None and len(attributes):
        digests = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
        if digests != [hashlib.sha256(inner).digest()]:
            raise ReadBackError("the signed message digest is not the content's")
        signed_data = attributes.untag().dump()
    _verify(certificate, signer["signature"].native, signed_data)
    return inner, certificate


def _verify(certificate: x509.Certificate, signature: bytes, data: bytes) -> None:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise ReadBackError("the signer's key is neither RSA nor EC")
    except InvalidSignature:
        raise ReadBackError("the signature does not verify: the profile was changed after signing") from None
