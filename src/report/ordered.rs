//! A JSON value whose object keys keep insertion order, for the exports
//! whose key order is part of their layout (serde_json's `Map` sorts keys
//! unless a crate-wide feature is turned on).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

pub(crate) enum Ordered {
    Obj(Vec<(String, Ordered)>),
    Arr(Vec<Ordered>),
    Val(Value),
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Val(v) => v.serialize(s),
            Ordered::Arr(items) => s.collect_seq(items),
            Ordered::Obj(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// An object from `(key, value)` pairs, in their order.
pub(crate) fn obj(fields: Vec<(&str, Ordered)>) -> Ordered {
    Ordered::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}
