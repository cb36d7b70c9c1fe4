//! Bundles: reading, roots, signatures, activation, deltas and limits.

use super::*;
use crate::{BundleInfo, Engine, Error, Limits};
use serde_json::json;

/// A gzipped tarball of `files` (path, contents), as `opa build` writes.
pub(crate) fn targz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Raw names: `set_path` refuses the absolute and `..` paths that
        // hostile archives hold.
        let name = &mut header.as_gnu_mut().unwrap().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn read(bytes: &[u8], verify: Option<&VerificationConfig>) -> crate::Result<Bundle> {
    Bundle::read(
        BundleSource::TarGz(bytes),
        verify,
        RegoVersion::V1,
        &BundleLimits::DEFAULT,
        &Limits::DEFAULT,
    )
}

fn activate(engine: &mut Engine, name: &str, files: &[(&str, &str)]) -> crate::Result<BundleInfo> {
    let bundle = read(&targz(files), None)?;
    engine.activate_bundle(name, bundle)
}

fn eval(engine: &mut Engine, rule: &str) -> Option<String> {
    engine.eval_rule(rule, "{}").unwrap()
}

const AUTHZ: &str = "package authz\nallow if data.authz.users[input.user] == \"admin\"\nrev := data.authz.config.rev";

#[test]
fn a_tarball_activates_modules_and_data_placed_by_directory() {
    let mut e = Engine::new();
    let info = activate(
        &mut e,
        "main",
        &[
            (
                ".manifest",
                r#"{"revision": "r1", "roots": ["authz"], "metadata": {"team": "x"}}"#,
            ),
            ("authz/policy.rego", AUTHZ),
            (
                "authz/data.json",
                r#"{"users": {"alice": "admin"}, "config": {"rev": 1}}"#,
            ),
            ("README.md", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(info.revision, "r1");
    assert_eq!(info.roots, vec!["authz"]);
    assert_eq!(info.modules, vec!["main/authz/policy.rego"]);
    assert_eq!(info.metadata, r#"{"team":"x"}"#);
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(eval(&mut e, "data.authz.rev").as_deref(), Some("1"));
    assert_eq!(e.bundles(), vec![info]);
}

#[test]
fn a_new_revision_replaces_modules_and_data_and_moves_the_engine_revision() {
    let mut e = Engine::new();
    let roots = r#"{"revision": "r1", "roots": ["authz"]}"#;
    activate(
        &mut e,
        "main",
        &[
            (".manifest", roots),
            ("authz/a.rego", AUTHZ),
            ("authz/data.json", r#"{"config": {"rev": 1}, "old": true}"#),
        ],
    )
    .unwrap();
    let before = e.revision();
    let info = activate(
        &mut e,
        "main",
        &[
            (".manifest", r#"{"revision": "r2", "roots": ["authz"]}"#),
            (
                "authz/b.rego",
                "package authz\nrev := data.authz.config.rev * 10",
            ),
            ("authz/data.json", r#"{"config": {"rev": 2}}"#),
        ],
    )
    .unwrap();
    assert!(e.revision() > before);
    assert_eq!(info.modules, vec!["main/authz/b.rego"]);
    assert_eq!(eval(&mut e, "data.authz.rev").as_deref(), Some("20"));
    assert_eq!(e.data_json().unwrap(), r#"{"authz":{"config":{"rev":2}}}"#);
    assert_eq!(e.policies(), vec!["main/authz/b.rego"]);
}

#[test]
fn a_bundle_that_fails_changes_nothing() {
    let mut e = Engine::new();
    let manifest = r#"{"revision": "r1", "roots": ["authz"]}"#;
    activate(
        &mut e,
        "main",
        &[
            (".manifest", manifest),
            ("authz/a.rego", AUTHZ),
            ("authz/data.json", r#"{"config": {"rev": 1}}"#),
        ],
    )
    .unwrap();
    let (rev, data, policies) = (e.revision(), e.data_json().unwrap(), e.policies());
    let bad: &[&[(&str, &str)]] = &[
        &[
            (".manifest", manifest),
            ("authz/a.rego", "package authz\nallow if {"),
        ],
        &[
            (".manifest", manifest),
            ("authz/a.rego", AUTHZ),
            ("authz/data.json", "{not json"),
        ],
        &[
            (".manifest", manifest),
            ("other/a.rego", "package other\nx := 1"),
        ],
        &[(".manifest", manifest), ("other/data.json", r#"{"a": 1}"#)],
        &[(".manifest", "{\"roots\": 7}")],
    ];
    for files in bad {
        assert!(activate(&mut e, "main", files).is_err(), "{files:?}");
        assert_eq!(e.revision(), rev);
        assert_eq!(e.data_json().unwrap(), data);
        assert_eq!(e.policies(), policies);
        assert_eq!(e.bundles()[0].revision, "r1");
        assert_eq!(eval(&mut e, "data.authz.rev").as_deref(), Some("1"));
    }
}

#[test]
fn roots_are_enforced_as_opa_enforces_them() {
    let mut e = Engine::new();
    let err = activate(
        &mut e,
        "a",
        &[
            (".manifest", r#"{"roots": ["x"]}"#),
            ("y/p.rego", "package y\np := 1"),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBundle(m) if m.contains("do not permit 'data.y' in module 'y/p.rego'")),
        "{err}"
    );
    let err = activate(
        &mut e,
        "a",
        &[
            (".manifest", r#"{"roots": ["x/y"]}"#),
            ("x/data.json", r#"{"z": 1}"#),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBundle(m) if m.contains("do not permit data at path '/x/z'")),
        "{err}"
    );
    // Data on the way to a root is fine.
    activate(
        &mut e,
        "a",
        &[
            (".manifest", r#"{"roots": ["x/y"]}"#),
            ("x/data.json", r#"{"y": {"z": 1}}"#),
        ],
    )
    .unwrap();
    let err = activate(&mut e, "b", &[(".manifest", r#"{"roots": ["x"]}"#)]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBundle(m) if m.contains("overlaps root \"x/y\" of bundle \"a\"")),
        "{err}"
    );
    assert!(activate(&mut e, "b", &[(".manifest", r#"{"roots": [""]}"#)]).is_err());
    activate(&mut e, "b", &[(".manifest", r#"{"roots": ["x/yz", "w"]}"#)]).unwrap();
    let err = activate(&mut e, "c", &[(".manifest", r#"{"roots": ["q", "q/r"]}"#)]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBundle(m) if m.contains("overlapped roots")),
        "{err}"
    );
}

#[test]
fn bundles_own_their_roots_against_other_changes() {
    let mut e = Engine::new();
    activate(
        &mut e,
        "main",
        &[
            (".manifest", r#"{"roots": ["authz"]}"#),
            ("authz/a.rego", AUTHZ),
            ("authz/data.json", r#"{"config": {"rev": 1}}"#),
        ],
    )
    .unwrap();
    assert!(matches!(
        e.add_policy("mine.rego", "package authz.extra\nx := 1"),
        Err(Error::InvalidPolicy(_))
    ));
    assert!(matches!(
        e.add_policy("main/authz/a.rego", "package other\nx := 1"),
        Err(Error::InvalidPolicy(_))
    ));
    assert!(matches!(
        e.remove_policy("main/authz/a.rego"),
        Err(Error::InvalidPolicy(_))
    ));
    assert!(matches!(
        e.add_data(r#"{"authz": {"config": {"rev": 2}}}"#),
        Err(Error::InvalidJson(_))
    ));
    e.add_policy("other.rego", "package other\nx := data.other.v")
        .unwrap();
    e.add_data(r#"{"other": {"v": 5}}"#).unwrap();
    e.replace_data(r#"{"other": {"v": 6}}"#).unwrap();
    assert_eq!(
        e.data_json().unwrap(),
        r#"{"authz":{"config":{"rev":1}},"other":{"v":6}}"#
    );
    e.clear_data();
    assert_eq!(e.data_json().unwrap(), r#"{"authz":{"config":{"rev":1}}}"#);
    // A policy already under the roots blocks activation.
    let mut e = Engine::new();
    e.add_policy("p.rego", "package authz\nx := 1").unwrap();
    let err = activate(&mut e, "main", &[(".manifest", r#"{"roots": ["authz"]}"#)]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBundle(m) if m.contains("remove it first")),
        "{err}"
    );
}

#[test]
fn removing_a_bundle_takes_its_modules_and_data() {
    let mut e = Engine::new();
    activate(
        &mut e,
        "main",
        &[
            (".manifest", r#"{"roots": ["authz"]}"#),
            ("authz/a.rego", AUTHZ),
            ("authz/data.json", r#"{"config": {"rev": 1}}"#),
        ],
    )
    .unwrap();
    e.add_data(r#"{"keep": 1}"#).unwrap();
    e.remove_bundle("main").unwrap();
    assert!(e.policies().is_empty() && e.bundles().is_empty());
    assert_eq!(e.data_json().unwrap(), r#"{"keep":1}"#);
    assert!(matches!(e.remove_bundle("main"), Err(Error::NotFound(_))));
}

#[test]
fn rego_versions_come_from_the_manifest_and_per_file() {
    let mut e = Engine::new();
    let v0 = "package old\nallow { input.x == 1 }";
    let v1 = "package new\nallow if input.x == 1";
    activate(
        &mut e,
        "a",
        &[
            (".manifest", r#"{"rego_version": 0, "roots": ["old"]}"#),
            ("old/p.rego", v0),
        ],
    )
    .unwrap();
    activate(
        &mut e,
        "b",
        &[
            (
                ".manifest",
                r#"{"roots": ["new", "legacy"], "file_rego_versions": {"legacy/*.rego": 0}}"#,
            ),
            ("new/p.rego", v1),
            ("legacy/p.rego", "package legacy\nallow { true }"),
        ],
    )
    .unwrap();
    assert_eq!(
        e.eval_rule("data.old.allow", r#"{"x":1}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(eval(&mut e, "data.legacy.allow").as_deref(), Some("true"));
    // Without the manifest saying so, v0 syntax is an error.
    assert!(
        activate(
            &mut e,
            "c",
            &[
                (".manifest", r#"{"roots": ["c"]}"#),
                ("c/p.rego", "package c\nallow { true }")
            ]
        )
        .is_err()
    );
}

#[test]
fn yaml_data_and_root_data_files_load() {
    let mut e = Engine::new();
    activate(
        &mut e,
        "a",
        &[("data.yaml", "top: 1\n"), ("x/y/data.yml", "z: [1, 2]\n")],
    )
    .unwrap();
    assert_eq!(e.data_json().unwrap(), r#"{"top":1,"x":{"y":{"z":[1,2]}}}"#);
}

#[test]
fn a_delta_bundle_patches_the_active_data() {
    let mut e = Engine::new();
    activate(
        &mut e,
        "main",
        &[
            (".manifest", r#"{"revision": "r1", "roots": ["authz"]}"#),
            ("authz/a.rego", AUTHZ),
            (
                "authz/data.json",
                r#"{"config": {"rev": 1}, "users": {"bob": "admin"}}"#,
            ),
        ],
    )
    .unwrap();
    let patch = json!({"data": [
        {"op": "upsert", "path": "/authz/users/alice", "value": "admin"},
        {"op": "remove", "path": "/authz/users/bob"},
        {"op": "replace", "path": "/authz/config/rev", "value": 2}
    ]});
    let info = activate(
        &mut e,
        "main",
        &[
            (".manifest", r#"{"revision": "r1-d1", "roots": ["authz"]}"#),
            ("patch.json", &patch.to_string()),
        ],
    )
    .unwrap();
    assert_eq!((info.revision.as_str(), info.deltas), ("r1-d1", 1));
    assert_eq!(
        e.data_json().unwrap(),
        r#"{"authz":{"config":{"rev":2},"users":{"alice":"admin"}}}"#
    );
    let rev = e.revision();
    let outside = json!({"data": [{"op": "upsert", "path": "/other/x", "value": 1}]});
    assert!(
        activate(
            &mut e,
            "main",
            &[
                (".manifest", r#"{"roots": ["authz"]}"#),
                ("patch.json", &outside.to_string())
            ]
        )
        .is_err()
    );
    let missing = json!({"data": [{"op": "remove", "path": "/authz/nobody"}]});
    assert!(activate(&mut e, "main", &[("patch.json", &missing.to_string())]).is_err());
    assert!(activate(&mut e, "none", &[("patch.json", &patch.to_string())]).is_err());
    assert_eq!(e.revision(), rev);
}

/// `TestPluginOneShotSignedBundlePersistence` in OPA's
/// `v1/plugins/bundle/plugin_test.go`: a bundle signed with HS256 and the
/// secret `secret`, its files as OPA hashes them.
const OPA_SIGNED: &str = include_str!("bundle/testdata/opa_signed.jwt").trim_ascii_end();

fn opa_signed_files(signatures: &str) -> Vec<(&'static str, String)> {
    vec![
        // Whitespace and key order differ from what was hashed: OPA hashes
        // structured files in canonical form.
        ("/.manifest", "{ \"revision\" : \"quickbrownfaux\" }".into()),
        ("/.signatures.json", signatures.into()),
        ("/example1/data.json", "{\"foo\":   \"bar\"}".into()),
        ("/example2/data.json", "{\"x\": true}".into()),
    ]
}

fn hs_config(secret: &str) -> VerificationConfig {
    VerificationConfig {
        keys: vec![VerificationKey {
            id: "foo".into(),
            algorithm: "HS256".into(),
            key: secret.into(),
            scope: String::new(),
        }],
        key_id: "foo".into(),
        ..Default::default()
    }
}

fn tarball(files: &[(&str, String)]) -> Vec<u8> {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, b)| (*p, b.as_str())).collect();
    targz(&borrowed)
}

#[test]
fn a_bundle_signed_by_opa_verifies() {
    let sigs = format!(r#"{{"signatures": ["{OPA_SIGNED}"]}}"#);
    let bundle = read(
        &tarball(&opa_signed_files(&sigs)),
        Some(&hs_config("secret")),
    )
    .unwrap();
    assert_eq!(bundle.manifest.revision, "quickbrownfaux");
    assert_eq!(
        bundle.data,
        json!({"example1": {"foo": "bar"}, "example2": {"x": true}})
    );
}

fn signature_error(files: &[(&str, String)], config: &VerificationConfig) -> String {
    match read(&tarball(files), Some(config)) {
        Err(Error::InvalidBundle(m)) => m,
        other => panic!("expected InvalidBundle, got {other:?}"),
    }
}

#[test]
fn bundles_that_do_not_match_their_signature_are_refused() {
    let sigs = format!(r#"{{"signatures": ["{OPA_SIGNED}"]}}"#);
    let good = opa_signed_files(&sigs);
    let config = hs_config("secret");
    assert!(signature_error(&good, &hs_config("other")).contains("does not verify"));
    let mut tampered = good.clone();
    tampered[2].1 = r#"{"foo": "baz"}"#.into();
    assert!(signature_error(&tampered, &config).contains("example1/data.json: digest mismatch"));
    let mut extra = good.clone();
    extra.push(("/example3/data.json", "{}".into()));
    assert!(signature_error(&extra, &config).contains("not included in bundle signature"));
    let missing: Vec<_> = good
        .iter()
        .filter(|(p, _)| *p != "/example2/data.json")
        .cloned()
        .collect();
    assert!(signature_error(&missing, &config).contains("not found in the target bundle"));
    let unsigned: Vec<_> = good
        .iter()
        .filter(|(p, _)| *p != "/.signatures.json")
        .cloned()
        .collect();
    assert!(signature_error(&unsigned, &config).contains("missing .signatures.json"));
    let two = vec![(
        ".signatures.json",
        format!(r#"{{"signatures": ["{OPA_SIGNED}", "{OPA_SIGNED}"]}}"#),
    )];
    assert!(signature_error(&two, &config).contains("multiple JWTs"));
    let unknown = VerificationConfig {
        key_id: "bar".into(),
        ..config.clone()
    };
    assert!(signature_error(&good, &unknown).contains("\"bar\" not found"));
    let scoped = VerificationConfig {
        scope: "write".into(),
        ..config.clone()
    };
    assert!(signature_error(&good, &scoped).contains("scope mismatch"));
    // exclude_files: an excluded file needs no entry in the signature.
    let excluded = VerificationConfig {
        exclude_files: vec!["example3/*".into()],
        ..config.clone()
    };
    read(&tarball(&extra), Some(&excluded)).unwrap();
}

/// An ES256 signature made here, verified against the public key as a JWK.
#[test]
fn es256_signatures_verify_with_the_public_key() {
    use p256::ecdsa::{Signature, SigningKey, signature::Signer};
    let b64 = |b: &[u8]| data_encoding::BASE64URL_NOPAD.encode(b);
    let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let point = sk.verifying_key().to_encoded_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    let policy = "package signed\nallow := true";
    use sha2::Digest;
    let payload = json!({"files": [{"name": "signed/p.rego", "hash": data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(policy)), "algorithm": "SHA-256"}], "scope": "prod"});
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"ES256","kid":"k1"}"#),
        b64(payload.to_string().as_bytes())
    );
    let sig: Signature = sk.sign(input.as_bytes());
    let jwt = format!("{input}.{}", b64(&sig.to_bytes()));
    let files = vec![
        ("signed/p.rego", policy.to_owned()),
        (".signatures.json", json!({"signatures": [jwt]}).to_string()),
    ];
    let config = VerificationConfig {
        keys: vec![VerificationKey {
            id: "k1".into(),
            algorithm: "ES256".into(),
            key: jwk.to_string(),
            scope: "prod".into(),
        }],
        ..Default::default()
    };
    let bundle = read(&tarball(&files), Some(&config)).unwrap();
    assert_eq!(bundle.modules.len(), 1);
    // The same token checked as RS256 is refused: the header says ES256.
    let wrong = VerificationConfig {
        keys: vec![VerificationKey {
            algorithm: "RS256".into(),
            ..config.keys[0].clone()
        }],
        ..Default::default()
    };
    assert!(signature_error(&files, &wrong).contains("signed with ES256"));
}

#[test]
fn hostile_archives_are_refused_within_the_limits() {
    assert!(matches!(
        read(b"not a tarball", None),
        Err(Error::InvalidBundle(_))
    ));
    // 32 MiB of zeros compress to ~32 KiB: refused at the per-file limit.
    let zeros = "0".repeat(32 << 20);
    let bomb = targz(&[("x/data.json", &zeros)]);
    assert!(bomb.len() < 1 << 20);
    assert!(matches!(read(&bomb, None), Err(Error::LimitExceeded(_))));
    let small = BundleLimits {
        max_files: 2,
        ..BundleLimits::DEFAULT
    };
    let many = targz(&[
        ("a.rego", "package a"),
        ("b.rego", "package b"),
        ("c.rego", "package c"),
    ]);
    let err = Bundle::read(
        BundleSource::TarGz(&many),
        None,
        RegoVersion::V1,
        &small,
        &Limits::DEFAULT,
    );
    assert!(matches!(err, Err(Error::LimitExceeded(_))));
    assert!(matches!(
        read(&targz(&[("../etc/x.rego", "package x")]), None),
        Err(Error::InvalidBundle(_))
    ));
    assert!(matches!(
        read(
            &targz(&[("a.rego", "package a"), ("./a.rego", "package a")]),
            None
        ),
        Err(Error::InvalidBundle(_))
    ));
    assert!(matches!(
        read(&targz(&[("policy.wasm", "\0asm")]), None),
        Err(Error::InvalidBundle(_))
    ));
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(matches!(
        read(
            &targz(&[("data.json", &format!("{{\"a\": {deep}}}"))]),
            None
        ),
        Err(Error::LimitExceeded(_))
    ));
}

#[test]
fn files_from_a_directory_read_like_a_tarball() {
    let files = vec![
        BundleFile {
            path: ".manifest".into(),
            bytes: br#"{"revision": "dir"}"#.to_vec(),
        },
        BundleFile {
            path: "authz/data.json".into(),
            bytes: br#"{"config": {"rev": 3}}"#.to_vec(),
        },
        BundleFile {
            path: "authz/p.rego".into(),
            bytes: AUTHZ.as_bytes().to_vec(),
        },
    ];
    let bundle = Bundle::read(
        BundleSource::Files(&files),
        None,
        RegoVersion::V1,
        &BundleLimits::DEFAULT,
        &Limits::DEFAULT,
    )
    .unwrap();
    let mut e = Engine::new();
    e.activate_bundle("dir", bundle).unwrap();
    assert_eq!(eval(&mut e, "data.authz.rev").as_deref(), Some("3"));
    let bad = vec![BundleFile {
        path: "/abs.rego".into(),
        bytes: vec![],
    }];
    assert!(
        Bundle::read(
            BundleSource::Files(&bad),
            None,
            RegoVersion::V1,
            &BundleLimits::DEFAULT,
            &Limits::DEFAULT
        )
        .is_err()
    );
}

#[test]
fn package_paths_split_into_segments() {
    assert_eq!(package_segments("data.a.b"), vec!["a", "b"]);
    assert_eq!(package_segments("data.a[\"b.c\"].d"), vec!["a", "b.c", "d"]);
}
