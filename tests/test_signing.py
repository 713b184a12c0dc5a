"""Signed Apple profiles: openssl accepts them and yields the unsigned plist; tampering and bad certificates are refused."""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator import generate
from generator.errors import InputFileError
from generator.formats.signing import load_signer

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool = False, start=NOW - DAY, end=NOW + 30 * DAY,
          signing: bool = True) -> x509.Certificate:
    usage = x509.KeyUsage(digital_signature=signing or ca, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                          key_encipherment=not signing, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(usage, critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *items) -> Path:
    data = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            data += item.public_bytes(serialization.Encoding.PEM)
        else:
            data += item
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    root_key, inter_key, signer_key = _key(), _key(), _key()
    root = _cert("mailprofiles test root", root_key, "mailprofiles test root", root_key, ca=True)
    inter = _cert("mailprofiles test intermediate", inter_key, "mailprofiles test root", root_key, ca=True)
    signer = _cert("Example GmbH profile signing", signer_key, "mailprofiles test intermediate", inter_key)
    plain_key = signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    locked_key = signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"correct horse"))
    return {
        "root": _pem(folder / "root.pem", root), "chain": _pem(folder / "chain.pem", inter),
        "cert": _pem(folder / "signer.pem", signer), "key": _pem(folder / "signer.key", plain_key),
        "locked": _pem(folder / "locked.key", locked_key), "signer_key": signer_key, "inter_key": inter_key,
        "folder": folder,
    }


def _openssl_verify(profile: Path, root: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(profile), "-CAfile", str(root),
                           "-purpose", "any", "-out", str(out)], capture_output=True, text=True)


def test_openssl_accepts_every_signed_profile_and_yields_the_plist(pki, tmp_path):
    unsigned, signed = tmp_path / "unsigned", tmp_path / "signed"
    generate(EXAMPLES, unsigned)
    result = run_cli("generate", str(EXAMPLES), "-o", str(signed), "--sign-cert", str(pki["cert"]),
                     "--sign-key", str(pki["key"]), "--sign-chain", str(pki["chain"]))
    assert result.returncode == 0, result.stderr
    profiles = sorted(signed.rglob("*.mobileconfig"))
    assert len(profiles) == 9
    for profile in profiles:
        inner = tmp_path / "inner.plist"
        verified = _openssl_verify(profile, pki["root"], inner)
        assert verified.returncode == 0, verified.stderr          # the chain is inside: only the root is given
        assert inner.read_bytes() == (unsigned / profile.relative_to(signed)).read_bytes()
    manifest = json.loads((signed / "manifest.json").read_text())
    assert {e["path"] for e in manifest["artifacts"] if e.get("signed")} == \
        {p.relative_to(signed).as_posix() for p in profiles}
    again = run_cli("generate", str(EXAMPLES), "-o", str(signed), "--sign-cert", str(pki["cert"]),
                    "--sign-key", str(pki["key"]), "--sign-chain", str(pki["chain"]), "--json")
    assert json.loads(again.stdout)["unchanged"] == len(manifest["artifacts"]), \
        "same input, same signed bytes (RSA, no signing time)"


def test_a_tampered_byte_is_refused(pki, tmp_path):
    from generator import load_inventory
    from generator.formats.registry import named

    out = tmp_path / "out"
    generate(EXAMPLES, out, signer=load_signer(pki["cert"], pki["key"], pki["chain"]))
    profile = out / "anna@example.com/phone/mail.mobileconfig"
    data = bytearray(profile.read_bytes())
    index = data.index(b"imap.example.com")
    data[index] = ord("x")
    tampered = tmp_path / "tampered.mobileconfig"
    tampered.write_bytes(bytes(data))
    refused = _openssl_verify(tampered, pki["root"], tmp_path / "x.plist")
    assert refused.returncode != 0 and "verification failure" in refused.stderr.lower()
    inventory = load_inventory(EXAMPLES)
    phone = next(d for d in inventory.devices if d.key == "anna@example.com/phone")
    problems = named("apple").check(bytes(data), inventory.organization, phone)
    assert problems == ["the signature does not verify: the profile was changed after signing"]
    assert named("apple").check(profile.read_bytes(), inventory.organization, phone) == []


def test_bad_certificates_are_clear_errors_before_anything_is_written(pki, tmp_path):
    folder = pki["folder"]
    key = pki["signer_key"]
    cases = {
        "expired": (_cert("old", key, "mailprofiles test intermediate", pki["inter_key"], start=NOW - 60 * DAY,
                          end=NOW - DAY), "expired on"),
        "future": (_cert("new", key, "mailprofiles test intermediate", pki["inter_key"], start=NOW + DAY,
                         end=NOW + 60 * DAY), "is not valid yet"),
        "encryption-only": (_cert("enc", key, "mailprofiles test intermediate", pki["inter_key"], signing=False),
                            "is not for signing: its key usage lacks digitalSignature"),
        "other-key": (_cert("other", _key(), "mailprofiles test intermediate", pki["inter_key"]),
                      f"--sign-key {pki['key']} does not belong to --sign-cert"),
    }
    for name, (cert, message) in cases.items():
        path = _pem(folder / f"{name}.pem", cert)
        out = tmp_path / name
        result = run_cli("generate", str(EXAMPLES), "-o", str(out), "--sign-cert", str(path),
                         "--sign-key", str(pki["key"]))
        assert result.returncode == 1 and message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr and not out.exists()


def test_key_passphrase_only_from_the_environment(pki, tmp_path):
    args = ["generate", str(EXAMPLES), "-o", str(tmp_path / "out"), "--sign-cert", str(pki["cert"]),
            "--sign-key", str(pki["locked"])]
    missing = run_cli(*args)
    assert missing.returncode == 1 and "put its passphrase into the environment variable " \
        "MAILPROFILES_SIGN_PASSPHRASE" in missing.stderr
    wrong = run_cli(*args, env={"MAILPROFILES_SIGN_PASSPHRASE": "wrong"})
    assert wrong.returncode == 1 and "does not open it" in wrong.stderr
    right = run_cli(*args, env={"MAILPROFILES_SIGN_PASSPHRASE": "correct horse"})
    assert right.returncode == 0, right.stderr
    assert "correct horse" not in (tmp_path / "out/manifest.json").read_text()
    half = run_cli("generate", str(EXAMPLES), "-o", str(tmp_path / "o2"), "--sign-cert", str(pki["cert"]))
    assert half.returncode == 2


def test_signer_checks_in_the_library(pki):
    with pytest.raises(InputFileError, match="holds no PEM certificate"):
        load_signer(pki["key"], pki["key"])
    assert shutil.which("openssl"), "openssl is installed by .ci/run"


def _duplicate_extension(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The certificate with its first extension twice, re-signed: cryptography raises on reading its extensions."""
    from asn1crypto import x509 as asn1
    from cryptography.hazmat.primitives.asymmetric import padding

    parsed = asn1.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    extensions = list(tbs["extensions"])
    tbs["extensions"] = asn1.Extensions([*extensions, extensions[0]])
    signature = key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA256())
    der = asn1.Certificate({"tbs_certificate": tbs, "signature_algorithm": parsed["signature_algorithm"],
                            "signature_value": signature}).dump()
    return x509.load_der_x509_certificate(der)


def test_a_certificate_with_a_duplicate_extension_is_named_not_an_internal_error(pki, tmp_path):
    twice = _duplicate_extension(_cert("twice", pki["signer_key"], "mailprofiles test intermediate",
                                       pki["inter_key"]), pki["inter_key"])
    with pytest.raises(x509.DuplicateExtension):
        twice.extensions  # noqa: B018 -- the property raises: the certificate is as broken as wanted
    path = _pem(tmp_path / "twice.pem", twice)
    parsed = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"], capture_output=True, text=True)
    assert parsed.stdout.count("X509v3 Basic Constraints") == 2, parsed.stdout + parsed.stderr    # openssl sees two
    out = tmp_path / "out"
    result = run_cli("generate", str(EXAMPLES), "-o", str(out), "--sign-cert", str(path), "--sign-key", str(pki["key"]))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"--sign-cert {path}" in result.stderr and "more than once" in result.stderr
    assert not out.exists()


def test_a_passphrase_for_a_key_that_is_not_encrypted_is_named(pki, tmp_path):
    out = tmp_path / "out"
    result = run_cli("generate", str(EXAMPLES), "-o", str(out), "--sign-cert", str(pki["cert"]), "--sign-key",
                     str(pki["key"]), env={"MAILPROFILES_SIGN_PASSPHRASE": "correct horse"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"--sign-key {pki['key']} is not encrypted: unset MAILPROFILES_SIGN_PASSPHRASE" in result.stderr
    assert "is encrypted" not in result.stderr.replace("is not encrypted", "") and not out.exists()


def _ec_pki(folder: Path) -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return {"cert": _pem(folder / "ec.pem", _cert("ec", key, "ec", key)),
            "locked": _pem(folder / "ec.key", key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.BestAvailableEncryption(b"right")))}


def _other_key_certificate(folder: Path, kind: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ed25519

    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else dsa.generate_private_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kind)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
            .sign(key, None if kind == "ed25519" else hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return _pem(folder / f"{kind}.pem", cert), _pem(folder / f"{kind}.key", pem_key)


BAD_FILES = {
    "key-empty": ("key", lambda pki, f: _pem(f / "empty.key", b""), "is empty"),
    "key-der": ("key", lambda pki, f: _pem(f / "der.key", pki["signer_key"].private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        "is DER, not PEM"),
    "key-garbage": ("key", lambda pki, f: _pem(f / "garbage.key", b"hello, world\n"), "holds no PEM block"),
    "key-is-a-certificate": ("key", lambda pki, f: pki["cert"], "holds no PEM private key (it has: CERTIFICATE)"),
    "key-damaged": ("key", lambda pki, f: _pem(f / "damaged.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                                   b"-----END PRIVATE KEY-----\n"), "cannot be read"),
    "key-directory": ("key", lambda pki, f: f, "is a folder, not a regular file"),
    "key-fifo": ("key", lambda pki, f: _fifo(f / "fifo.key"), "is a FIFO, not a regular file"),
    "key-missing": ("key", lambda pki, f: f / "missing.key", "No such file"),
    "cert-empty": ("cert", lambda pki, f: _pem(f / "empty.pem", b""), "is empty"),
    "cert-der": ("cert", lambda pki, f: _pem(f / "der.pem", x509.load_pem_x509_certificate(
        pki["cert"].read_bytes()).public_bytes(serialization.Encoding.DER)), "is DER, not PEM"),
    "cert-garbage": ("cert", lambda pki, f: _pem(f / "garbage.pem", b"\x00\xff garbage"), "holds no PEM block"),
    "cert-damaged": ("cert", lambda pki, f: _pem(f / "damaged.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                                     b"-----END CERTIFICATE-----\n"),
                     "certificate 1 cannot be read"),
    "cert-directory": ("cert", lambda pki, f: f, "is a folder, not a regular file"),
    "chain-with-a-key": ("chain", lambda pki, f: _pem(f / "chain-key.pem", pki["chain"].read_bytes(),
                                                      pki["key"].read_bytes()),
                         "PEM block 2 is a PRIVATE KEY, not a CERTIFICATE"),
    "chain-damaged": ("chain", lambda pki, f: _pem(f / "chain-damaged.pem", pki["chain"].read_bytes(),
                                                   b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                      "certificate 2 cannot be read"),
}


def _fifo(path: Path) -> Path:
    import os

    if not path.exists():
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_key_and_certificate_files_name_the_file_and_the_cause(pki, tmp_path, case):
    role, make, message = BAD_FILES[case]
    bad = make(pki, tmp_path)
    cert, key, chain = (bad if role == "cert" else pki["cert"]), (bad if role == "key" else pki["key"]), \
        (bad if role == "chain" else None)
    with pytest.raises(InputFileError) as info:
        load_signer(cert, key, chain)
    assert f"--sign-{role} {bad}" in str(info.value) and message in str(info.value), str(info.value)


def test_an_ec_key_with_a_wrong_passphrase(tmp_path, monkeypatch):
    ec = _ec_pki(tmp_path)
    monkeypatch.setenv("MAILPROFILES_SIGN_PASSPHRASE", "wrong")
    with pytest.raises(InputFileError, match="MAILPROFILES_SIGN_PASSPHRASE does not open it"):
        load_signer(ec["cert"], ec["locked"])
    monkeypatch.setenv("MAILPROFILES_SIGN_PASSPHRASE", "")
    with pytest.raises(InputFileError, match="is encrypted: put its passphrase"):
        load_signer(ec["cert"], ec["locked"])
    monkeypatch.setenv("MAILPROFILES_SIGN_PASSPHRASE", "right")
    assert load_signer(ec["cert"], ec["locked"]).subject == "CN=ec"


@pytest.mark.parametrize("kind, name", [("ed25519", "an Ed25519"), ("dsa", "a DSA")])
def test_a_certificate_with_a_key_type_cms_cannot_use(tmp_path, kind, name):
    cert, key = _other_key_certificate(tmp_path, kind)
    with pytest.raises(InputFileError) as info:
        load_signer(cert, key)
    assert f"--sign-cert {cert} (CN={kind}) has {name} key: only RSA and EC" in str(info.value)


def test_a_key_that_does_not_match_names_both(pki, tmp_path):
    other = _pem(tmp_path / "other.key", _key().private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    with pytest.raises(InputFileError, match=f"--sign-key {other} does not belong to --sign-cert"):
        load_signer(pki["cert"], other)
