//! Building bundles: what `build` writes reads back, activates and
//! verifies; what would fail in the fleet fails the build.

use super::*;
use crate::bundle::{Bundle, BundleLimits, BundleSource, VerificationConfig, VerificationKey};
use crate::{Engine, Error, Limits, RegoVersion};

const KEYS: &str = "src/builtins/testdata/keys";

fn file(path: &str, body: &str) -> BundleFile {
    BundleFile {
        path: path.into(),
        bytes: body.as_bytes().to_vec(),
    }
}

fn dir() -> Vec<BundleFile> {
    vec![
        file(
            "authz/policy.rego",
            "package authz\nallow if input.user in data.authz.admins\n",
        ),
        file("authz/data.json", r#"{"admins": ["alice"]}"#),
        file("README.md", "not policy"),
    ]
}

fn read(bytes: &[u8], verification: Option<&VerificationConfig>) -> crate::Result<Bundle> {
    Bundle::read(
        BundleSource::TarGz(bytes),
        verification,
        RegoVersion::V1,
        &BundleLimits::DEFAULT,
        &Limits::DEFAULT,
    )
}

fn build_with(options: &BuildOptions) -> crate::Result<Vec<u8>> {
    build(dir(), options, &BundleLimits::DEFAULT, &Limits::DEFAULT)
}

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{KEYS}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn signing(algorithm: &str, key: String) -> SigningConfig {
    SigningConfig {
        algorithm: algorithm.into(),
        key,
        key_id: "release".into(),
        scope: "write".into(),
        exclude_files: vec!["README.md".into()],
    }
}

fn verification(algorithm: &str, key: String) -> VerificationConfig {
    VerificationConfig {
        keys: vec![VerificationKey {
            id: "release".into(),
            algorithm: algorithm.into(),
            key,
            scope: "write".into(),
        }],
        exclude_files: vec!["README.md".into()],
        ..VerificationConfig::default()
    }
}

#[test]
fn a_built_bundle_reads_back_with_its_revision_and_roots_and_decides() {
    let options = BuildOptions {
        revision: Some("v7".into()),
        roots: Some(vec!["authz".into()]),
        signing: None,
    };
    let bytes = build_with(&options).unwrap();
    // Reproducible: no timestamps in the archive.
    assert_eq!(bytes, build_with(&options).unwrap());
    let bundle = read(&bytes, None).unwrap();
    assert_eq!(bundle.manifest.revision, "v7");
    assert_eq!(bundle.manifest.roots, ["authz"]);
    let mut engine = Engine::new();
    engine.activate_bundle("main", bundle).unwrap();
    let allowed = engine
        .eval_rule("data.authz.allow", r#"{"user": "alice"}"#)
        .unwrap();
    assert_eq!(allowed.as_deref(), Some("true"));
}

#[test]
fn signed_bundles_verify_with_the_matching_key_only() {
    let rsa_jwk = {
        let expected: serde_json::Value = serde_json::from_str(&key("expected.json")).unwrap();
        let jwk = &expected["rsa"]["jwk"];
        serde_json::json!({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}).to_string()
    };
    let cases = [
        ("HS256", "s3cret".to_owned(), "s3cret".to_owned()),
        ("RS256", key("rsa_pkcs1.pem"), rsa_jwk.clone()),
        ("PS384", key("rsa_pkcs8.pem"), rsa_jwk),
        ("ES256", key("p256_sec1.pem"), key("p256_cert.pem")),
    ];
    for (alg, private, public) in cases {
        let options = BuildOptions {
            signing: Some(signing(alg, private)),
            ..BuildOptions::default()
        };
        let bytes = build_with(&options).unwrap_or_else(|e| panic!("{alg}: {e}"));
        read(&bytes, Some(&verification(alg, public.clone())))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        // Another key, or the wrong scope, is refused.
        let other = match alg {
            "HS256" => "other".to_owned(),
            _ => key("p256_cert.pem"),
        };
        let alg_other = if alg == "HS256" { "HS256" } else { "ES256" };
        if alg != "ES256" {
            assert!(
                read(&bytes, Some(&verification(alg_other, other))).is_err(),
                "{alg}"
            );
        }
        let mut wrong_scope = verification(alg, public);
        wrong_scope.scope = "read".into();
        assert!(read(&bytes, Some(&wrong_scope)).is_err(), "{alg}");
    }
}

#[test]
fn what_would_fail_in_the_fleet_fails_the_build() {
    let bad = |files: Vec<BundleFile>, options: BuildOptions| {
        build(files, &options, &BundleLimits::DEFAULT, &Limits::DEFAULT).unwrap_err()
    };
    let mut broken = dir();
    broken.push(file("authz/broken.rego", "package authz\nallow if {"));
    assert!(matches!(
        bad(broken, BuildOptions::default()),
        Error::InvalidPolicy(_)
    ));
    let outside = BuildOptions {
        roots: Some(vec!["other".into()]),
        ..BuildOptions::default()
    };
    assert!(matches!(bad(dir(), outside), Error::InvalidBundle(_)));
    let mut manifest = dir();
    manifest.push(file(".manifest", "[1]"));
    let revision = BuildOptions {
        revision: Some("r".into()),
        ..BuildOptions::default()
    };
    assert!(matches!(bad(manifest, revision), Error::InvalidBundle(_)));
    let unusable = BuildOptions {
        signing: Some(signing("RS256", "not a key".into())),
        ..BuildOptions::default()
    };
    assert!(matches!(bad(dir(), unusable), Error::Other(_)));
}
