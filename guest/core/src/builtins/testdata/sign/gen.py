"""Regenerates the signing and X.509 fixtures beside this script with
pyca/cryptography, independent of the Rust crates under test.

    python3 gen.py   # needs `cryptography`; writes private_jwks.json, cert.pem

The private keys are test-only and fresh on every run.
"""

import base64
import datetime
import ipaddress
import json
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = pathlib.Path(__file__).parent


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def num(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def rsa_jwk(key):
    pub, priv = key.public_key().public_numbers(), key.private_numbers()
    return {"kty": "RSA", "n": num(pub.n), "e": num(pub.e), "d": num(priv.d),
            "p": num(priv.p), "q": num(priv.q), "dp": num(priv.dmp1),
            "dq": num(priv.dmq1), "qi": num(priv.iqmp)}


def ec_jwk(key, crv, size):
    pub = key.public_key().public_numbers()
    return {"kty": "EC", "crv": crv, "x": num(pub.x, size), "y": num(pub.y, size),
            "d": num(key.private_numbers().private_value, size)}


def ed_jwk(key):
    raw = serialization.Encoding.Raw
    return {"kty": "OKP", "crv": "Ed25519",
            "x": b64(key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)),
            "d": b64(key.private_bytes(raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption()))}


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
keys = {
    "rsa": rsa_jwk(rsa_key),
    "p256": ec_jwk(ec.generate_private_key(ec.SECP256R1()), "P-256", 32),
    "p384": ec_jwk(ec.generate_private_key(ec.SECP384R1()), "P-384", 48),
    "ed25519": ed_jwk(ed25519.Ed25519PrivateKey.generate()),
    # RFC 7515 A.4's P-521 key, fixed: its published signature checks the
    # verifier, this key the signer.
    "p521": {"kty": "EC", "crv": "P-521",
             "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
             "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
             "d": "AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"},
}
(HERE / "private_jwks.json").write_text(json.dumps(keys, indent=1) + "\n")

name = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sark Test"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Policy"),
    x509.NameAttribute(NameOID.COMMON_NAME, "sark.example.com"),
])
issuer = x509.Name([
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sark CA"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Sark Test CA"),
])
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(issuer)
    .public_key(rsa_key.public_key())
    .serial_number(0x0123456789ABCDEF0123456789ABCDEF)
    .not_valid_before(datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    .not_valid_after(datetime.datetime(2034, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    .add_extension(x509.SubjectAlternativeName([
        x509.DNSName("sark.example.com"),
        x509.DNSName("www.sark.example.com"),
        x509.RFC822Name("ops@sark.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.UniformResourceIdentifier("spiffe://sark.example.com/gateway"),
    ]), critical=False)
    .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                 key_encipherment=True, data_encipherment=False,
                                 key_agreement=False, key_cert_sign=True, crl_sign=False,
                                 encipher_only=False, decipher_only=False), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                          ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    .add_extension(x509.SubjectKeyIdentifier(b"\x01\x02\x03\x04"), critical=False)
    .add_extension(x509.AuthorityKeyIdentifier(b"\x05\x06\x07\x08", None, None),
                   critical=False)
    .add_extension(x509.AuthorityInformationAccess([
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                               x509.UniformResourceIdentifier("http://ocsp.example.com")),
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                               x509.UniformResourceIdentifier("http://ca.example.com/ca.der")),
    ]), critical=False)
    .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")], None, None, None)]),
        critical=False)
    .add_extension(x509.CertificatePolicies([
        x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]),
        critical=False)
    .sign(rsa_key, hashes.SHA256())
)
(HERE / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
