use super::*;
use serde_json::json;

fn orders() -> Json {
    json!({"type":"struct","name":"srv.shop.orders.Value","optional":false,"fields":[
        {"field":"id","type":"int32","optional":false},
        {"field":"tiny","type":"int8","optional":true},
        {"field":"big","type":"int64","optional":false},
        {"field":"ratio","type":"float","optional":true},
        {"field":"name","type":"string","optional":true},
        {"field":"blob","type":"bytes","optional":true},
        {"field":"flag","type":"boolean","optional":true},
        {"field":"price","type":"bytes","optional":true,"name":DECIMAL,"version":1,
         "parameters":{"scale":"2","connect.decimal.precision":"10"}},
        {"field":"born","type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1},
        {"field":"tags","type":"array","optional":true,"items":{"type":"string","optional":false}}]})
}

#[test]
fn connect_schemas_map_as_json_schema_data_does() {
    let plan = from_connect(&orders(), MessagePart::Value).expect("schema");
    let s: Json = serde_json::from_str(&plan.text).expect("json");
    assert_eq!(s["$schema"], DRAFT_07);
    assert_eq!(s["type"], "object");
    assert_eq!(s["title"], "srv.shop.orders.Value");
    assert_eq!(plan.name.as_deref(), Some("srv.shop.orders.Value"));
    assert_eq!(s["required"], json!(["id", "big"]));
    assert_eq!(s["additionalProperties"], false);
    let p = &s["properties"];
    assert_eq!(
        p["id"],
        json!({"type":"integer","connect.type":"int32","connect.index":0})
    );
    assert_eq!(
        p["tiny"],
        json!({"oneOf":[{"type":"null"},{"type":"integer","connect.type":"int8"}],"connect.index":1})
    );
    assert_eq!(p["big"]["connect.type"], "int64");
    assert_eq!(p["ratio"]["oneOf"][1]["connect.type"], "float32");
    assert_eq!(
        p["blob"]["oneOf"][1],
        json!({"type":"string","connect.type":"bytes"})
    );
    assert_eq!(
        p["price"]["oneOf"][1],
        json!({"type":"number","connect.type":"bytes","title":DECIMAL,"connect.version":1,
               "connect.parameters":{"scale":"2","connect.decimal.precision":"10"}})
    );
    assert_eq!(
        p["born"]["oneOf"][1]["title"],
        "org.apache.kafka.connect.data.Date"
    );
    assert_eq!(p["tags"]["oneOf"][1]["items"], json!({"type":"string"}));
    assert_eq!(p["tags"]["connect.index"], 9);
}

#[test]
fn payloads_are_plain_json_with_exact_decimal_numbers() {
    let plan = from_connect(&orders(), MessagePart::Value).expect("schema");
    // 1234.50 at scale 2 is unscaled 123450 = 0x01E23A.
    let payload = json!({"id":1,"tiny":null,"big":9007199254740993i64,"ratio":1.5,"name":"a\"b",
        "blob":"AAE=","flag":true,"price":"AeI6","born":19000,"tags":["x"]});
    let mut out = Vec::new();
    encode(&plan, &payload, &mut out).expect("encode");
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.contains("\"price\":1234.50"), "{text}");
    assert!(text.contains("\"big\":9007199254740993"), "{text}");
    assert!(!text.contains("payload"), "{text}");
    let back: Json = serde_json::from_str(&text).expect("valid json");
    assert_eq!(back["name"], "a\"b");
    assert_eq!(back["blob"], "AAE=");
    let err = encode(
        &plan,
        &json!({"id":1,"big":2,"price":"%%"}),
        &mut Vec::new(),
    )
    .expect_err("bad base64")
    .to_string();
    assert!(err.contains("price"), "{err}");
}

#[test]
fn derived_schemas_read_back_to_the_same_connect_schema() {
    let plan = from_connect(&orders(), MessagePart::Value).expect("schema");
    let reader = JsonSchemaReader::new(&plan.text, MessagePart::Value).expect("reader");
    let c = reader.connect_schema();
    assert_eq!(c["type"], "struct");
    assert_eq!(c["name"], "srv.shop.orders.Value");
    let orig = orders();
    for (got, want) in c["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .zip(orig["fields"].as_array().expect("fields"))
    {
        for key in [
            "field",
            "type",
            "optional",
            "name",
            "version",
            "parameters",
            "items",
        ] {
            assert_eq!(got.get(key), want.get(key), "{key} of {}", want["field"]);
        }
    }
    let msg = reader
        .to_connect_json(br#"{"id":1,"big":2,"price":123456789012345678901234567890.12}"#)
        .expect("message");
    let text = String::from_utf8(msg).expect("utf8");
    assert!(
        text.ends_with(r#""payload":{"id":1,"big":2,"price":123456789012345678901234567890.12}}"#),
        "{text}"
    );
    assert!(text.starts_with(r#"{"schema":{"type":"struct""#), "{text}");
}

#[test]
fn application_schemas_and_mismatches() {
    let app = r#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"Customer",
        "type":"object","required":["id"],"properties":{
        "id":{"type":"integer"},"name":{"type":"string"},"score":{"type":"number"},
        "vip":{"type":["boolean","null"]},"attrs":{"type":"object","additionalProperties":{"type":"string"}}}}"#;
    let reader = JsonSchemaReader::new(app, MessagePart::Value).expect("reader");
    let c = reader.connect_schema();
    assert_eq!(c["name"], "Customer");
    assert_eq!(
        c["fields"][0],
        json!({"field":"id","type":"int64","optional":false})
    );
    assert_eq!(c["fields"][1]["optional"], true);
    assert_eq!(c["fields"][2]["type"], "double");
    assert_eq!(
        c["fields"][3],
        json!({"field":"vip","type":"boolean","optional":true})
    );
    assert_eq!(c["fields"][4]["type"], "map");
    reader
        .to_connect_json(br#"{"id":7,"name":"ann"}"#)
        .expect("missing optional fields are fine");
    let err = |b: &[u8]| reader.to_connect_json(b).expect_err("refused").to_string();
    assert!(err(br#"{"name":"x"}"#).contains("`id` is required"));
    assert!(err(br#"{"id":"7"}"#).contains("expected an integer"));
    assert!(err(br#"{"id":1,"attrs":{"a":1}}"#).contains("attrs.a"));
    assert!(err(b"{not json").contains("not valid JSON"));
    let refused = |t: &str| {
        JsonSchemaReader::new(t, MessagePart::Value)
            .expect_err("refused")
            .to_string()
    };
    assert!(refused(r#"{"type":["string","integer"]}"#).contains("cannot be mapped"));
    assert!(refused(r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#).contains("oneOf"));
    assert!(refused(r##"{"$ref":"#/definitions/x"}"##).contains("cannot be mapped"));
    assert!(refused(r#"{"type":"object"}"#).contains("additionalProperties"));
    assert!(refused("{\"type\":\"record\",\"name\":\"x\",\"fields\":[]}").contains("record"));
}

#[test]
fn maps_with_other_keys_are_refused_on_write() {
    let s = json!({"type":"map","optional":false,"keys":{"type":"int32","optional":false},
        "values":{"type":"string","optional":false}});
    let err = from_connect(&s, MessagePart::Key)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("string keys"), "{err}");
}
