//! GUIDs in the Windows layout (reference §1.7).

use crate::hresult::{Error, Result};
use std::fmt;

/// A GUID with the Windows field layout: `{ u32 data1; u16 data2; u16 data3; u8 data4[8]; }`.
///
/// The text form is `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` (lower case); [`Guid::parse`]
/// accepts it with or without braces, in any case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid {
    /// First 32 bits.
    pub data1: u32,
    /// Next 16 bits.
    pub data2: u16,
    /// Next 16 bits.
    pub data3: u16,
    /// Last 64 bits, as bytes.
    pub data4: [u8; 8],
}

impl Guid {
    /// The all-zero GUID (`GUID_NULL`), never a valid group or job id (DECISIONS D3).
    pub const NIL: Guid = Guid { data1: 0, data2: 0, data3: 0, data4: [0; 8] };

    /// A random (version 4) GUID.
    pub fn generate() -> Guid {
        Guid::from_bytes(*uuid::Uuid::new_v4().as_bytes())
    }

    /// True for `GUID_NULL`.
    pub fn is_nil(&self) -> bool {
        *self == Guid::NIL
    }

    /// From the 16 bytes in text order (big-endian fields, as RFC 4122 writes them).
    pub fn from_bytes(b: [u8; 16]) -> Guid {
        Guid {
            data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_be_bytes([b[4], b[5]]),
            data3: u16::from_be_bytes([b[6], b[7]]),
            data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }

    /// The 16 bytes in text order (inverse of [`Guid::from_bytes`]); used as the storage key.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.data1.to_be_bytes());
        b[4..6].copy_from_slice(&self.data2.to_be_bytes());
        b[6..8].copy_from_slice(&self.data3.to_be_bytes());
        b[8..16].copy_from_slice(&self.data4);
        b
    }

    /// Parses `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, braces optional, any case.
    ///
    /// Errors: `E_INVALIDARG` naming the problem when the text is not of that form.
    pub fn parse(text: &str) -> Result<Guid> {
        let inner = match (text.strip_prefix('{'), text.strip_suffix('}')) {
            (Some(_), Some(_)) if text.len() >= 2 => &text[1..text.len() - 1],
            (None, None) => text,
            _ => return Err(Error::invalid_arg(format!("GUID \"{text}\" has unbalanced braces"))),
        };
        let bytes = inner.as_bytes();
        if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
            return Err(Error::invalid_arg(format!(
                "GUID \"{text}\" is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
            )));
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut hi: Option<u8> = None;
        for (i, &c) in bytes.iter().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                continue;
            }
            let v = (c as char)
                .to_digit(16)
                .ok_or_else(|| Error::invalid_arg(format!("GUID \"{text}\" has a non-hexadecimal character")))?
                as u8;
            match hi.take() {
                None => hi = Some(v),
                Some(h) => {
                    out[n] = (h << 4) | v;
                    n += 1;
                }
            }
        }
        Ok(Guid::from_bytes(out))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

impl std::str::FromStr for Guid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Guid> {
        Guid::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_and_bytes() {
        let g = Guid::parse("{69AD4AEE-51BE-439b-A92C-86AE490E8B30}").unwrap();
        assert_eq!(g.data1, 0x69ad4aee);
        assert_eq!(g.data2, 0x51be);
        assert_eq!(g.data3, 0x439b);
        assert_eq!(g.data4, [0xa9, 0x2c, 0x86, 0xae, 0x49, 0x0e, 0x8b, 0x30]);
        assert_eq!(g.to_string(), "{69ad4aee-51be-439b-a92c-86ae490e8b30}");
        assert_eq!(Guid::parse("69ad4aee-51be-439b-a92c-86ae490e8b30").unwrap(), g);
        assert_eq!(Guid::from_bytes(g.to_bytes()), g);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "{}",
            "{69ad4aee-51be-439b-a92c-86ae490e8b30",
            "69ad4aee51be439ba92c86ae490e8b30",
            "69ad4aee-51be-439b-a92c-86ae490e8b3g",
            "{69ad4aee-51be-439b-a92c-86ae490e8b300}",
        ] {
            assert!(Guid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_guids_differ_and_are_not_nil() {
        let (a, b) = (Guid::generate(), Guid::generate());
        assert_ne!(a, b);
        assert!(!a.is_nil());
    }
}
