use serde_json::{json, Value as Json};

use super::binary::write_long;
use super::*;
use crate::connect::error::MessagePart;

fn schema(s: Json) -> AvroSchema {
    from_connect(&s, MessagePart::Value).expect("schema")
}

fn body(s: &AvroSchema, payload: Json) -> Vec<u8> {
    let mut out = Vec::new();
    encode(s, &payload, &mut out).expect("encode");
    out
}

#[test]
fn zigzag_varints_match_the_spec() {
    // Avro spec's table: 0→00, -1→01, 1→02, -2→03, 2→04, -64→7f, 64→80 01.
    for (v, want) in [
        (0i64, vec![0x00u8]),
        (-1, vec![0x01]),
        (1, vec![0x02]),
        (-2, vec![0x03]),
        (2, vec![0x04]),
        (-64, vec![0x7f]),
        (64, vec![0x80, 0x01]),
        (
            i64::MAX,
            vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        (
            i64::MIN,
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ] {
        let mut out = Vec::new();
        write_long(&mut out, v);
        assert_eq!(out, want, "{v}");
    }
}

#[test]
fn flat_row_schema_follows_avro_data() {
    let s = schema(json!({"type":"struct","fields":[
        {"type":"int32","optional":false,"field":"id"},
        {"type":"string","optional":true,"field":"name"},
        {"type":"int16","optional":true,"field":"small"},
        {"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created_at"},
        {"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,
         "parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},
        {"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"d"},
        {"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"t"},
        {"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"mt"},
        {"type":"int32","optional":true,"default":7,"field":"qty"}
    ],"optional":false,"name":"users"}));
    let want = json!({"type":"record","name":"users","fields":[
        {"name":"id","type":"int"},
        {"name":"name","type":["null","string"],"default":null},
        {"name":"small","type":["null",{"type":"int","connect.type":"int16"}],"default":null},
        {"name":"created_at","type":["null",{"type":"long","connect.version":1,
            "connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}],"default":null},
        {"name":"price","type":{"type":"bytes","scale":2,"precision":10,"connect.version":1,
            "connect.parameters":{"scale":"2","connect.decimal.precision":"10"},
            "connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
        {"name":"d","type":["null",{"type":"int","connect.version":1,
            "connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null},
        {"name":"t","type":["null",{"type":"int","connect.version":1,
            "connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}],"default":null},
        {"name":"mt","type":["null",{"type":"long","connect.version":1,
            "connect.name":"io.debezium.time.MicroTimestamp"}],"default":null},
        {"name":"qty","type":[{"type":"int","connect.default":7},"null"],"default":7}
    ],"connect.name":"users"});
    let got: Json = serde_json::from_str(&s.text).expect("json");
    assert_eq!(got, want);
    assert_eq!(s.full_name.as_deref(), Some("users"));

    // id=1, name=null, small=-2, created_at=1000, price=12.34 (0x04d2), d=null, t=null, mt=null, qty=null
    let b = body(
        &s,
        json!({"id":1,"name":null,"small":-2,"created_at":1000,"price":"BNI=","d":null,"t":null,"mt":null,"qty":null}),
    );
    assert_eq!(
        b,
        vec![
            0x02, // id 1
            0x00, // name: null branch
            0x02, 0x03, // small: branch 1, -2
            0x02, 0xd0, 0x0f, // created_at: branch 1, 1000
            0x04, 0x04, 0xd2, // price: 2 bytes
            0x00, 0x00, 0x00, // d, t, mt null
            0x02, // qty: [int, null] → null is branch 1
        ]
    );
}

#[test]
fn unnamed_key_is_connect_default_and_names_are_adjusted() {
    let s = schema(
        json!({"type":"struct","fields":[{"type":"int32","optional":false,"field":"order id"}],"optional":false}),
    );
    let got: Json = serde_json::from_str(&s.text).expect("json");
    assert_eq!(
        got,
        json!({"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro",
               "fields":[{"name":"order_id","type":"int"}]})
    );
    assert_eq!(
        s.full_name.as_deref(),
        Some("io.confluent.connect.avro.ConnectDefault")
    );
    // The payload is read by the Connect field name.
    assert_eq!(body(&s, json!({"order id": 3})), vec![0x06]);
    assert_eq!(avro_name_of("1db-x"), "_1db_x");
}

fn avro_name_of(s: &str) -> String {
    super::schema::avro_name(s)
}

#[test]
fn debezium_envelope_defines_value_once_and_refers_to_it() {
    let row = json!({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],
                     "optional":true,"name":"srv-1.db.t.Value"});
    let s = schema(json!({"type":"struct","fields":[
        {"field":"before", "type":"struct","fields":row["fields"],"optional":true,"name":"srv-1.db.t.Value"},
        {"field":"after", "type":"struct","fields":row["fields"],"optional":true,"name":"srv-1.db.t.Value"},
        {"type":"string","optional":false,"field":"op"},
        {"type":"int64","optional":true,"field":"ts_ms"}
    ],"optional":false,"name":"srv-1.db.t.Envelope","version":2}));
    let got: Json = serde_json::from_str(&s.text).expect("json");
    assert_eq!(got["name"], json!("Envelope"));
    assert_eq!(got["namespace"], json!("srv_1.db.t"));
    assert_eq!(got["connect.version"], json!(2));
    assert_eq!(got["connect.name"], json!("srv-1.db.t.Envelope"));
    assert_eq!(got["fields"][0]["type"][1]["name"], json!("Value"));
    assert_eq!(got["fields"][0]["default"], Json::Null);
    assert_eq!(
        got["fields"][1]["type"],
        json!(["null", "srv_1.db.t.Value"])
    );
    assert_eq!(s.full_name.as_deref(), Some("srv_1.db.t.Envelope"));
    // before=null, after={id:5}, op="c", ts_ms=1
    let b = body(
        &s,
        json!({"before":null,"after":{"id":5},"op":"c","ts_ms":1}),
    );
    assert_eq!(b, vec![0x00, 0x02, 0x0a, 0x02, b'c', 0x02, 0x02]);
}

#[test]
fn primitives_arrays_and_maps() {
    let s = schema(
        json!({"type":"struct","optional":false,"name":"a.b.R","fields":[
            {"field":"f","type":"float","optional":false},
            {"field":"g","type":"double","optional":false},
            {"field":"ok","type":"boolean","optional":false},
            {"field":"tags","type":"array","items":{"type":"string","optional":false},"optional":false},
            {"field":"m","type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":false},
            {"field":"im","type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},"optional":false},
            {"field":"raw","type":"bytes","optional":true,"default":"AAE="}
        ]}),
    );
    let got: Json = serde_json::from_str(&s.text).expect("json");
    assert_eq!(
        got["fields"][3]["type"],
        json!({"type":"array","items":"string"})
    );
    assert_eq!(
        got["fields"][4]["type"],
        json!({"type":"map","values":"long"})
    );
    assert_eq!(got["fields"][5]["type"]["items"]["name"], json!("MapEntry"));
    assert_eq!(got["fields"][6]["default"], json!("\u{0}\u{1}"));
    let b = body(
        &s,
        json!({"f":1.5,"g":-2.0,"ok":true,"tags":["x"],"m":{},"im":[[1,"y"]],"raw":null}),
    );
    let mut want = Vec::new();
    want.extend_from_slice(&1.5f32.to_le_bytes());
    want.extend_from_slice(&(-2.0f64).to_le_bytes());
    want.push(1);
    want.extend_from_slice(&[0x02, 0x02, b'x', 0x00]); // one block of 1, "x", end
    want.push(0x00); // empty map
    want.extend_from_slice(&[0x02, 0x02, 0x02, b'y', 0x00]); // [[1,"y"]]
    want.push(0x02); // raw: [bytes, null] → null is branch 1
    assert_eq!(b, want);
}

#[test]
fn bad_values_are_named() {
    let s = schema(json!({"type":"struct","optional":false,"fields":[
        {"field":"n","type":"int8","optional":false}]}));
    let mut out = Vec::new();
    let err = encode(&s, &json!({"n": null}), &mut out)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("`n`") && err.contains("null"), "{err}");
    let err = encode(&s, &json!({"n": 1e40}), &mut out)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("`n`"), "{err}");
    let err = from_connect(&json!({"type":"uuid"}), MessagePart::Key)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("unknown Connect type"), "{err}");
}

/// Connect → Avro → Connect: the reader gives back the payload, and a schema
/// the JSON decoder reads as the same column types.
#[test]
fn avro_reads_back_as_the_connect_message_it_came_from() {
    let connect = json!({"type":"struct","fields":[
        {"type":"int32","optional":false,"field":"id"},
        {"type":"string","optional":true,"field":"name"},
        {"type":"int16","optional":true,"field":"small"},
        {"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created_at"},
        {"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,
         "parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},
        {"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"d"},
        {"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","version":1,"field":"mt"},
        {"type":"double","optional":true,"field":"x"},
        {"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"}
    ],"optional":false,"name":"srv.db.users"});
    let payload = json!({"id":-3,"name":"ann","small":7,"created_at":1660592867000i64,
        "price":"BNI=","d":null,"mt":86399999999i64,"x":0.5,"tags":["a","b"]});
    let s = schema(connect.clone());
    let b = body(&s, payload.clone());
    let reader = AvroReader::new(&s.text, MessagePart::Value).expect("reader");
    let msg: Json =
        serde_json::from_slice(&reader.to_connect_json(&b).expect("read")).expect("json");
    assert_eq!(msg["payload"], payload);
    let back = &msg["schema"];
    assert_eq!(back["name"], "srv.db.users");
    assert_eq!(back["type"], "struct");
    for (orig, got) in connect["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .zip(back["fields"].as_array().expect("fields"))
    {
        for k in ["field", "type", "optional", "name", "version", "parameters"] {
            assert_eq!(orig.get(k), got.get(k), "{k} of {orig}");
        }
    }
    // A truncated body and a bad union branch are errors, not panics.
    assert!(reader.to_connect_json(&b[..b.len() - 1]).is_err());
    assert!(reader.to_connect_json(&[0x02, 0x05]).is_err());
}

/// Another producer's schema (fastavro style): logical micros, an enum, a
/// fixed, a map, a record referred to by name.
#[test]
fn foreign_avro_schemas_map_to_connect() {
    let text = r#"{"type":"record","name":"Row","namespace":"ns","fields":[
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"color","type":{"type":"enum","name":"Color","symbols":["red","green"]}},
        {"name":"h","type":{"type":"fixed","name":"H","size":2}},
        {"name":"m","type":{"type":"map","values":"int"}},
        {"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}},
        {"name":"again","type":["null","In"]}
    ]}"#;
    let reader = AvroReader::new(text, MessagePart::Value).expect("reader");
    let mut b = Vec::new();
    write_long(&mut b, 5); // ts
    write_long(&mut b, 1); // green
    b.extend_from_slice(&[0xAB, 0xCD]);
    b.extend_from_slice(&[0x02, 0x02, b'k', 0x06, 0x00]); // {"k": 3}
    write_long(&mut b, 4); // inner.a = 4
    b.extend_from_slice(&[0x02, 0x02]); // again: branch 1, a = 1
    let msg: Json =
        serde_json::from_slice(&reader.to_connect_json(&b).expect("read")).expect("json");
    assert_eq!(
        msg["payload"],
        json!({"ts":5,"color":"green","h":"q80=","m":{"k":3},"inner":{"a":4},"again":{"a":1}})
    );
    assert_eq!(
        msg["schema"]["fields"][0]["name"],
        "io.debezium.time.MicroTimestamp"
    );
    assert_eq!(msg["schema"]["fields"][5]["optional"], true);
    assert_eq!(msg["schema"]["fields"][5]["name"], "ns.In");
    let err = AvroReader::new(r#"["int","string"]"#, MessagePart::Key)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("unions"), "{err}");
}

/// Field defaults become Connect defaults (what lets a sink add a required
/// column with a default, Avro's usual compatible change).
#[test]
fn field_defaults_become_connect_defaults() {
    let text = r#"{"type":"record","name":"R","fields":[
        {"name":"qty","type":"int","default":1},
        {"name":"tag","type":["string","null"],"default":"none"},
        {"name":"raw","type":"bytes","default":"\u00ff\u0001"},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"default":"\u0004\u00ce"},
        {"name":"note","type":["null","string"],"default":null}
    ]}"#;
    let reader = AvroReader::new(text, MessagePart::Value).expect("reader");
    let mut b = Vec::new();
    write_long(&mut b, 2); // qty
    write_long(&mut b, 1); // tag: null
    write_long(&mut b, 0); // raw: empty
    b.extend_from_slice(&[0x02, 0x05]); // price: 0.05
    write_long(&mut b, 0); // note: null
    let msg: Json =
        serde_json::from_slice(&reader.to_connect_json(&b).expect("read")).expect("json");
    let f = &msg["schema"]["fields"];
    assert_eq!(f[0]["default"], 1);
    assert_eq!(f[1]["default"], "none");
    assert_eq!(f[1]["optional"], true);
    assert_eq!(f[2]["default"], "/wE=");
    assert_eq!(f[3]["default"], "BM4=", "12.30 as its unscaled bytes");
    assert!(f[4].get("default").is_none());
    // The decoder takes the message, defaults and all.
    let decoded = crate::connect::decode(None, Some(&reader.to_connect_json(&b).expect("read")));
    assert!(decoded.is_ok(), "{decoded:?}");
}

/// The sink's reader writes the payload text directly; it must be the text
/// serde_json prints for the tree the reader used to build.
#[test]
fn the_direct_reader_text_equals_the_tree_text() {
    let text = r#"{"type":"record","name":"Row","namespace":"ns","fields":[
        {"name":"b","type":"boolean"},
        {"name":"i","type":"int"},
        {"name":"l","type":["null","long"]},
        {"name":"f","type":"float"},
        {"name":"d","type":"double"},
        {"name":"s","type":"string"},
        {"name":"raw","type":"bytes"},
        {"name":"color","type":{"type":"enum","name":"Color","symbols":["red","gr\"een"]}},
        {"name":"h","type":{"type":"fixed","name":"H","size":2}},
        {"name":"m","type":{"type":"map","values":"int"}},
        {"name":"a","type":{"type":"array","items":["string","null"]}},
        {"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"a\u00e9","type":"int"}]}},
        {"name":"again","type":["null","In"]}
    ]}"#;
    let reader = AvroReader::new(text, MessagePart::Value).expect("reader");
    let mut checked = 0;
    for (f, d, s) in [
        (1.5f32, 0.1f64, "plain"),
        (
            f32::NAN,
            f64::INFINITY,
            "quote \" backslash \\ nul \u{0} tab \t \u{1f} é 😀 </script>",
        ),
        (-0.0, 1e300, ""),
        (f32::MIN_POSITIVE, -2.5e-308, "\u{7f}\u{2028}"),
    ] {
        for null_l in [true, false] {
            let mut b = vec![u8::from(null_l)];
            write_long(&mut b, i64::from(i32::MIN));
            if !null_l {
                b.clear();
                b.push(0);
                write_long(&mut b, i64::from(i32::MIN));
                write_long(&mut b, 1);
                write_long(&mut b, i64::MIN);
            } else {
                write_long(&mut b, 0);
            }
            b.extend_from_slice(&f.to_le_bytes());
            b.extend_from_slice(&d.to_le_bytes());
            write_long(&mut b, s.len() as i64);
            b.extend_from_slice(s.as_bytes());
            write_long(&mut b, 3);
            b.extend_from_slice(&[0, 0xFF, 7]);
            write_long(&mut b, 1); // gr"een
            b.extend_from_slice(&[0xAB, 0xCD]);
            // map: {"k": 3, "k": 4} in two blocks (the second with a byte size).
            b.extend_from_slice(&[0x02, 0x02, b'k', 0x06, 0x01, 0x08, 0x02, b'k', 0x08, 0x00]);
            // array: ["x", null]
            b.extend_from_slice(&[0x04, 0x00, 0x02, b'x', 0x02, 0x00]);
            write_long(&mut b, 4); // inner
            b.extend_from_slice(&[0x02, 0x02]); // again
            let direct = reader.to_connect_json(&b).expect("direct");
            let tree = reader.via_tree(&b).expect("tree");
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&tree)
            );
            // Damaged bodies fail the same way on both paths.
            for cut in [1, 5, b.len() / 2, b.len() - 1] {
                let e1 = reader.to_connect_json(&b[..cut]).expect_err("short");
                let e2 = reader.via_tree(&b[..cut]).expect_err("short");
                assert_eq!(e1.to_string(), e2.to_string());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
    // A record naming a field twice: the tree's last value wins, as before.
    let twice = AvroReader::new(
        r#"{"type":"record","name":"T","fields":[{"name":"x","type":"int"},{"name":"x","type":"int"}]}"#,
        MessagePart::Value,
    )
    .expect("reader");
    let body = [0x02, 0x04];
    assert_eq!(
        twice.to_connect_json(&body).expect("read"),
        twice.via_tree(&body).expect("read")
    );
}

/// Sluice's own Avro bodies of the type matrix read back to the same text both ways.
#[test]
fn the_direct_reader_reads_sluice_bodies_like_the_tree() {
    let s = schema(
        json!({"type":"struct","name":"t","optional":false,"fields":[
        {"field":"id","type":"int64","optional":false},
        {"field":"f","type":"float","optional":true},
        {"field":"money","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal",
         "version":1,"parameters":{"scale":"2"}},
        {"field":"t","type":"string","optional":true,"default":"x"}]}),
    );
    let reader = AvroReader::new(&s.text, MessagePart::Value).expect("reader");
    for payload in [
        json!({"id": 1, "f": 0.1, "money": "BNI=", "t": "a\"b"}),
        json!({"id": -1, "f": null, "money": null, "t": null}),
    ] {
        let b = body(&s, payload);
        assert_eq!(
            reader.to_connect_json(&b).expect("direct"),
            reader.via_tree(&b).expect("tree")
        );
    }
}
