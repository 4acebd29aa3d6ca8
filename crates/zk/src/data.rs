//! zc.zk's node data rules: properties are a JSON object.
//!
//! - Empty, whitespace-only or null data is `{}`.
//! - Data that is not a JSON object (after trimming, it must start with `{`, end with `}` and
//!   parse) is `{"string_value": <the raw data>}`.
//! - Writing `{"string_value": x}` alone writes `x` raw; anything else is written as compact
//!   JSON.

use serde_json::{Map, Value};

/// Properties: a JSON object.
pub type PropertyMap = Map<String, Value>;

/// The key zc.zk uses for data that is not a JSON object.
pub const STRING_VALUE: &str = "string_value";

/// Decodes node data into properties, never failing.
pub fn decode(data: Option<&[u8]>) -> PropertyMap {
    let Some(data) = data else {
        return PropertyMap::new();
    };
    let text = String::from_utf8_lossy(data);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return PropertyMap::new();
    }
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(map)) => return map,
            _ => tracing::warn!(target: "zc_zk", "bad json data in node; using string_value"),
        }
    }
    let mut map = PropertyMap::new();
    map.insert(STRING_VALUE.to_owned(), Value::String(text.into_owned()));
    map
}

/// Encodes properties as node data.
pub fn encode(props: &PropertyMap) -> Vec<u8> {
    if props.len() == 1 {
        if let Some(Value::String(raw)) = props.get(STRING_VALUE) {
            return raw.as_bytes().to_vec();
        }
    }
    serde_json::to_vec(props).unwrap_or_else(|_| b"{}".to_vec())
}

/// Whether a [`PropertyMap`] keeps its keys sorted (serde_json's default) rather than in
/// insertion order (its `preserve_order` feature); found once, by trying.
fn keys_sorted() -> bool {
    static SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut probe = PropertyMap::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().map(String::as_str) == Some("a")
    })
}

/// Encodes `props` with `pid` set to `pid`, byte for byte as [`encode`] of the map with
/// `pid` inserted, without copying or changing the map (a registration's data).
pub fn encode_with_pid(props: &PropertyMap, pid: u32) -> Vec<u8> {
    if !keys_sorted() {
        // serde_json's `preserve_order` (turned on by any crate in the build) keeps keys in
        // insertion order: insert, as `encode`'s callers do.
        let mut with_pid = props.clone();
        with_pid.insert("pid".to_owned(), Value::from(pid));
        return encode(&with_pid);
    }
    struct WithPid<'a>(&'a PropertyMap, u32);
    impl serde::Serialize for WithPid<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            const PID: &str = "pid";
            let others = || self.0.iter().filter(|(k, _)| k.as_str() != PID);
            let mut map = s.serialize_map(Some(others().count() + 1))?;
            // The map's keys are sorted (checked by the caller): `pid` goes where an insert
            // would put it.
            let mut pid_written = false;
            for (k, v) in others() {
                if !pid_written && k.as_str() > PID {
                    map.serialize_entry(PID, &self.1)?;
                    pid_written = true;
                }
                map.serialize_entry(k, v)?;
            }
            if !pid_written {
                map.serialize_entry(PID, &self.1)?;
            }
            map.end()
        }
    }
    // A pid set means the data is never a raw string_value.
    serde_json::to_vec(&WithPid(props, pid)).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> PropertyMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn empty_and_null_data_are_empty_properties() {
        assert_eq!(decode(None), PropertyMap::new());
        assert_eq!(decode(Some(b"")), PropertyMap::new());
        assert_eq!(decode(Some(b"  \n")), PropertyMap::new());
    }

    #[test]
    fn non_object_data_is_a_string_value() {
        for raw in ["xxx", "{xxx}", "\n{xxx}\n", "[1,2]"] {
            assert_eq!(
                decode(Some(raw.as_bytes())),
                obj(json!({"string_value": raw})),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn json_objects_round_trip_compactly() {
        let props = obj(json!({"a": 1, "b": [true, null]}));
        let data = encode(&props);
        assert_eq!(data, br#"{"a":1,"b":[true,null]}"#);
        assert_eq!(decode(Some(&data)), props);
    }

    #[test]
    fn lone_string_value_is_written_raw_and_empty_is_braces() {
        assert_eq!(encode(&obj(json!({"string_value": "xxx"}))), b"xxx");
        assert_eq!(encode(&PropertyMap::new()), b"{}");
    }

    #[test]
    fn data_with_a_pid_is_the_map_with_pid_inserted() {
        for props in [
            json!({}),
            json!({"a": 1}),
            json!({"zz": [1, 2], "a": "x"}),
            json!({"pid": 7, "port": 80}),
            json!({"string_value": "raw"}),
            json!({"pic": true, "pie": null, "pj": {"n": 1}}),
        ] {
            let props = obj(props);
            let mut inserted = props.clone();
            inserted.insert("pid".to_owned(), Value::from(4321u32));
            assert_eq!(
                String::from_utf8(encode_with_pid(&props, 4321)).unwrap(),
                String::from_utf8(encode(&inserted)).unwrap(),
                "{props:?}"
            );
        }
    }
}
