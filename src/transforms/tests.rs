//! Unit tests of the chain's configuration; the transforms' behaviour is
//! diffed against Kafka Connect's own classes in tests/suite/transforms.rs.

use std::collections::BTreeMap;

use super::*;

fn chain(transforms: &str, props: &[(&str, &str)]) -> Result<Chain, TransformError> {
    let list: Vec<String> = transforms
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let preds: Vec<String> = props
        .iter()
        .filter_map(|(k, _)| {
            k.strip_prefix("predicates.")
                .and_then(|r| r.split('.').next())
        })
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let map: BTreeMap<String, String> = props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Chain::new(&list, &preds, &map)
}

fn key_of(e: TransformError) -> String {
    match e {
        TransformError::Config { key, .. } => key,
        other => panic!("not a config error: {other}"),
    }
}

#[test]
fn unknown_types_keys_and_aliases_are_refused_by_name() {
    let e = chain("x", &[("transforms.x.type", "com.example.Nope")]).expect_err("fails");
    assert_eq!(key_of(e.clone()), "transforms.x.type");
    assert!(e.to_string().contains("com.example.Nope"), "{e}");
    let e = chain(
        "r",
        &[
            (
                "transforms.r.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.r.regex", "a"),
            ("transforms.r.replacement", "b"),
            ("transforms.r.colour", "red"),
        ],
    )
    .expect_err("fails");
    assert_eq!(key_of(e), "transforms.r.colour");
    let e = chain(
        "",
        &[(
            "transforms.z.type",
            "org.apache.kafka.connect.transforms.Filter",
        )],
    )
    .expect_err("fails");
    assert_eq!(key_of(e), "transforms.z.type");
    let e = chain("x", &[]).expect_err("fails");
    assert_eq!(key_of(e), "transforms.x.type");
    let e = chain(
        "f",
        &[
            (
                "transforms.f.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.f.predicate", "nope"),
        ],
    )
    .expect_err("fails");
    assert_eq!(key_of(e), "transforms.f.predicate");
    let e = chain(
        "u",
        &[
            (
                "transforms.u.type",
                "io.debezium.transforms.ExtractNewRecordState",
            ),
            ("transforms.u.delete.handling.mode", "rewrite"),
        ],
    )
    .expect_err("fails");
    assert_eq!(key_of(e), "transforms.u.delete.handling.mode");
    let e = chain(
        "t",
        &[
            (
                "transforms.t.type",
                "org.apache.kafka.connect.transforms.TimestampConverter$Value",
            ),
            ("transforms.t.target.type", "string"),
        ],
    )
    .expect_err("fails");
    assert_eq!(key_of(e), "transforms.t.format");
}

#[test]
fn a_filter_behind_a_tombstone_predicate_drops_only_tombstones() {
    let c = chain(
        "drop",
        &[
            (
                "transforms.drop.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.drop.predicate", "tomb"),
            (
                "predicates.tomb.type",
                "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            ),
        ],
    )
    .expect("test value");
    let mut r = Record {
        topic: "t".into(),
        partition: None,
        offset: None,
        timestamp: None,
        key: None,
        value: None,
        headers: Vec::new(),
    };
    assert_eq!(c.apply(r.clone()).expect("test value"), None);
    r.value = Data::parse(
        br#"{"schema":{"type":"int32","optional":false},"payload":1}"#,
        "value",
    )
    .expect("test value");
    assert_eq!(c.apply(r.clone()).expect("test value"), Some(r));
}
