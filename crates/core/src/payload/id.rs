//! Point ids as Qdrant has them: unsigned integers or UUIDs.

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A point's external id: an unsigned integer or a UUID.
///
/// In JSON it is a number (`42`) or a UUID string. UUIDs are accepted in
/// upper or lower case, with or without hyphens (also `{…}` and
/// `urn:uuid:…`), and always written lower-case hyphenated. Negative or
/// fractional numbers and other strings are errors. Ids order numbers
/// first, then UUIDs, as Qdrant scrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PointId {
    /// An unsigned integer id.
    Num(u64),
    /// A UUID, as its 128-bit value.
    Uuid(u128),
}

impl PointId {
    /// Parses a UUID in any accepted spelling; `None` when `s` is not one.
    pub fn parse_uuid(s: &str) -> Option<PointId> {
        let s = s
            .strip_prefix("urn:uuid:")
            .or_else(|| s.strip_prefix('{').and_then(|t| t.strip_suffix('}')))
            .unwrap_or(s);
        let b = s.as_bytes();
        let hyphenated = b.len() == 36;
        if !hyphenated && b.len() != 32 {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if hyphenated && matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let d = (c as char).to_digit(16)?;
            v = (v << 4) | u128::from(d);
        }
        Some(PointId::Uuid(v))
    }
}

impl From<u64> for PointId {
    fn from(n: u64) -> Self {
        PointId::Num(n)
    }
}

impl fmt::Display for PointId {
    /// A number in decimal, a UUID lower-case hyphenated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(
                f,
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                (u >> 96) as u32,
                (u >> 80) as u16,
                (u >> 64) as u16,
                (u >> 48) as u16,
                u & 0xffff_ffff_ffff
            ),
        }
    }
}

impl FromStr for PointId {
    type Err = Error;

    /// Decimal digits are a numeric id (as in a REST path); anything else
    /// must be a UUID.
    fn from_str(s: &str) -> Result<Self> {
        if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
            if let Ok(n) = s.parse::<u64>() {
                return Ok(PointId::Num(n));
            }
        } else if let Some(id) = PointId::parse_uuid(s) {
            return Ok(id);
        }
        Err(Error::InvalidParameter(format!(
            "point id must be an unsigned integer or a UUID, got {s:?}"
        )))
    }
}

impl Serialize for PointId {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match *self {
            PointId::Num(n) => s.serialize_u64(n),
            PointId::Uuid(_) => s.collect_str(self),
        }
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = PointId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an unsigned integer or a UUID string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<PointId, E> {
        Ok(PointId::Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<PointId, E> {
        u64::try_from(v).map(PointId::Num).map_err(|_| {
            E::custom(format!(
                "point id must be an unsigned integer or a UUID, got {v}"
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> core::result::Result<PointId, E> {
        Err(E::custom(format!(
            "point id must be an unsigned integer or a UUID, got {v}"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<PointId, E> {
        PointId::parse_uuid(v).ok_or_else(|| {
            E::custom(format!(
                "point id must be an unsigned integer or a UUID, got {v:?}"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

/// The id in a JSON value, or the error message for it.
pub(crate) fn id_from_value(v: &serde_json::Value) -> core::result::Result<PointId, String> {
    let parsed = match v {
        serde_json::Value::Number(n) => n.as_u64().map(PointId::Num),
        serde_json::Value::String(s) => PointId::parse_uuid(s),
        _ => None,
    };
    parsed.ok_or_else(|| format!("point id must be an unsigned integer or a UUID, got {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    const U: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn uuid_spellings_parse_to_one_id_written_lower_hyphenated() {
        let want = PointId::Uuid(0x550e8400_e29b_41d4_a716_446655440000);
        for s in [
            U,
            "550E8400-E29B-41D4-A716-446655440000",
            "550e8400e29b41d4a716446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
        ] {
            let id: PointId = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(id, want, "{s}");
            assert_eq!(id.to_string(), U);
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{U}\""));
        }
    }

    #[test]
    fn numbers_are_unsigned_integers_only() {
        assert_eq!(
            serde_json::from_str::<PointId>("42").unwrap(),
            PointId::Num(42)
        );
        assert_eq!(serde_json::to_string(&PointId::Num(42)).unwrap(), "42");
        for bad in [
            "-1", "1.5", "1.0", "\"abc\"", "\"42\"", "null", "true", "[1]",
        ] {
            assert!(serde_json::from_str::<PointId>(bad).is_err(), "{bad}");
        }
        for bad in [
            "550e8400-e29b-41d4-a716-44665544000",
            "550e8400-e29b-41d4-a716_446655440000",
            "g50e8400e29b41d4a716446655440000",
        ] {
            assert_eq!(PointId::parse_uuid(bad), None, "{bad}");
        }
        assert_eq!("7".parse::<PointId>().unwrap(), PointId::Num(7));
        assert!("-7".parse::<PointId>().is_err());
    }

    #[test]
    fn numbers_order_before_uuids() {
        let mut ids: Vec<PointId> = vec![
            PointId::parse_uuid(U).unwrap(),
            PointId::Num(u64::MAX),
            PointId::Uuid(1),
            PointId::Num(3),
        ];
        ids.sort();
        assert_eq!(
            ids,
            [
                PointId::Num(3),
                PointId::Num(u64::MAX),
                PointId::Uuid(1),
                PointId::parse_uuid(U).unwrap()
            ]
        );
    }
}
