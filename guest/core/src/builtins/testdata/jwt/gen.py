"""Regenerates the JWT fixtures beside this script with pyca/cryptography,
an implementation independent of the Rust crates under test.

    python3 gen.py   # needs `cryptography`; writes *.pem, jwks.json, tokens.json

Keys are fresh on every run and only public halves are written; the tokens
are signed here, so the tests check signatures made by other code.
"""

import base64
import datetime
import hashlib
import hmac
import json
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).parent
SECRET = b"sark-test-secret"
T0 = 1_700_000_000
CLAIMS = {"iss": "sark", "aud": "gateway", "sub": "alice", "iat": T0, "nbf": T0, "exp": T0 + 3600}
HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def int_bytes(n: int, size: int | None = None) -> bytes:
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


def sign(alg: str, key, header_extra=None, claims=CLAIMS, salt=None) -> str:
    header = {"alg": alg, "typ": "JWT", **(header_extra or {})}
    signing_input = f"{part(header)}.{part(claims)}".encode()
    family, bits = alg[:2], alg[2:]
    if family == "HS":
        sig = hmac.new(key, signing_input, getattr(hashlib, f"sha{bits}")).digest()
    elif family == "RS":
        sig = key.sign(signing_input, padding.PKCS1v15(), HASHES[bits])
    elif family == "PS":
        h = HASHES[bits]
        pss = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size if salt is None else salt)
        sig = key.sign(signing_input, pss, h)
    elif family == "ES":
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(HASHES[bits])))
        size = (key.curve.key_size + 7) // 8
        sig = int_bytes(r, size) + int_bytes(s, size)
    elif alg == "EdDSA":
        sig = key.sign(signing_input)
    else:
        raise ValueError(alg)
    return f"{signing_input.decode()}.{b64(sig)}"


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def certificate(key, hash_alg) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sark-policy test")])
    start = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key, hash_alg)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def jwk(key, **extra) -> dict:
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64(int_bytes(n.n)), "e": b64(int_bytes(n.e)), **extra}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": b64(int_bytes(n.x, size)), "y": b64(int_bytes(n.y, size)), **extra}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw), **extra}


def main() -> None:
    rsa1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256b = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    p521 = ec.generate_private_key(ec.SECP521R1())
    ed = ed25519.Ed25519PrivateKey.generate()

    files = {
        "rsa_cert.pem": certificate(rsa1, hashes.SHA256()),
        "rsa_pub.pem": public_pem(rsa1),
        "rsa2_pub.pem": public_pem(rsa2),
        "p256_cert.pem": certificate(p256, hashes.SHA256()),
        "p256_pub.pem": public_pem(p256),
        "p256b_pub.pem": public_pem(p256b),
        "p384_pub.pem": public_pem(p384),
        "ed25519_pub.pem": public_pem(ed),
    }
    for name, text in files.items():
        (HERE / name).write_text(text)

    jwks = {
        "keys": [
            jwk(rsa1, kid="rsa-1", alg="RS256", use="sig"),
            jwk(rsa2, kid="rsa-2"),
            jwk(p256, kid="ec-1", alg="ES256"),
            jwk(p384, kid="ec-384"),
            jwk(ed, kid="ed-1", alg="EdDSA"),
            jwk(p521, kid="ec-521", alg="ES512"),
            {"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": b64(SECRET)},
            # An encryption key: its alg is no JWS algorithm, so OPA drops it.
            jwk(rsa2, kid="enc-1", alg="RSA-OAEP", use="enc"),
        ]
    }
    (HERE / "jwks.json").write_text(json.dumps(jwks, indent=1) + "\n")

    tokens = {
        "HS256": sign("HS256", SECRET),
        "HS384": sign("HS384", SECRET),
        "HS512": sign("HS512", SECRET),
        "RS256": sign("RS256", rsa1),
        "RS384": sign("RS384", rsa1),
        "RS512": sign("RS512", rsa1),
        "PS256": sign("PS256", rsa1),
        "PS384": sign("PS384", rsa1),
        "PS512": sign("PS512", rsa1),
        "PS256_salt_max": sign("PS256", rsa1, salt=padding.PSS.MAX_LENGTH),
        "PS256_salt_0": sign("PS256", rsa1, salt=0),
        "ES256": sign("ES256", p256),
        "ES384": sign("ES384", p384),
        "EdDSA": sign("EdDSA", ed),
        # JWKS selection: kid present in the set, kid naming another key,
        # kid absent from the set (then keys are tried by alg).
        "RS256_kid_rsa2": sign("RS256", rsa2, {"kid": "rsa-2"}),
        "RS256_kid_wrong": sign("RS256", rsa1, {"kid": "rsa-2"}),
        "RS256_kid_unknown": sign("RS256", rsa2, {"kid": "nope"}),
        "ES256_kid_ec1": sign("ES256", p256, {"kid": "ec-1"}),
        "ES512_kid_ec521": sign("ES512", p521, {"kid": "ec-521"}),
        "HS256_kid_hs1": sign("HS256", SECRET, {"kid": "hs-1"}),
        "ES256_wrong_key": sign("ES256", p256b),
    }
    (HERE / "tokens.json").write_text(json.dumps(tokens, indent=1) + "\n")


if __name__ == "__main__":
    main()
