"""Regenerates the private-key fixtures beside this script with
pyca/cryptography, independent of the Rust crates under test.

    python3 gen.py   # needs `cryptography`; writes *.pem and expected.json

expected.json holds, for each key, its integers in decimal and its
base64url JWK members, as pyca computes them. The keys are test-only and
fresh on every run.
"""

import base64
import datetime
import json
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).parent
PEM = serialization.Encoding.PEM
NONE = serialization.NoEncryption()


def b64u(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
write("rsa_pkcs1.pem", rsa_key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, NONE))
write("rsa_pkcs8.pem", rsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NONE))
ec_keys = {
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "p521": ec.generate_private_key(ec.SECP521R1()),
}
for name, key in ec_keys.items():
    write(f"{name}_sec1.pem", key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, NONE))
    write(f"{name}_pkcs8.pem", key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NONE))
ed_key = ed25519.Ed25519PrivateKey.generate()
write("ed25519_pkcs8.pem", ed_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NONE))

# A self-signed certificate for the P-256 key, for crypto.x509.parse_keypair.
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sark keypair")])
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(ec_keys["p256"].public_key())
    .serial_number(4242)
    .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    .not_valid_after(datetime.datetime(2034, 1, 1, tzinfo=datetime.timezone.utc))
    .sign(ec_keys["p256"], hashes.SHA256())
)
write("p256_cert.pem", cert.public_bytes(PEM))

priv = rsa_key.private_numbers()
expected = {
    "rsa": {
        "N": str(priv.public_numbers.n), "E": str(priv.public_numbers.e), "D": str(priv.d),
        "P": str(priv.p), "Q": str(priv.q), "Dp": str(priv.dmp1), "Dq": str(priv.dmq1),
        "Qinv": str(priv.iqmp),
        "jwk": {"kty": "RSA", "n": b64u(priv.public_numbers.n), "e": b64u(priv.public_numbers.e),
                "d": b64u(priv.d), "p": b64u(priv.p), "q": b64u(priv.q), "dp": b64u(priv.dmp1),
                "dq": b64u(priv.dmq1), "qi": b64u(priv.iqmp)},
    },
    "ed25519": base64.b64encode(
        ed_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, NONE)
        + ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode(),
    "cert_der": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
}
for name, key in ec_keys.items():
    n = key.private_numbers()
    expected[name] = {"X": str(n.public_numbers.x), "Y": str(n.public_numbers.y), "D": str(n.private_value)}
(HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")

# Certificate requests, for crypto.x509.parse_certificate_request.
from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID  # noqa: E402
import ipaddress  # noqa: E402

csr = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "sark.example"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sark"),
    ]))
    .add_extension(x509.SubjectAlternativeName([
        x509.DNSName("sark.example"),
        x509.DNSName("www.sark.example"),
        x509.RFC822Name("ops@sark.example"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.UniformResourceIdentifier("https://sark.example/id"),
    ]), critical=False)
    .sign(rsa_key, hashes.SHA256())
)
write("csr_rsa.pem", csr.public_bytes(PEM))
csr_ec = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")]))
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_attribute(AttributeOID.CHALLENGE_PASSWORD, b"secret")
    .sign(ec_keys["p256"], hashes.SHA256())
)
write("csr_ec.pem", csr_ec.public_bytes(PEM))
expected["csr_rsa_der"] = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
expected["csr_ec_der"] = base64.b64encode(csr_ec.public_bytes(serialization.Encoding.DER)).decode()
(HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
