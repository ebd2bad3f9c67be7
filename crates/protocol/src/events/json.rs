//! Reading event fields with precise error messages, and writing compact JSON by hand.
//!
//! Reading goes through a `sonic_rs` tree so that every error can name the key it is about
//! (`sonic_rs` was chosen by measurement: it builds the tree about five times faster than
//! `serde_json`, see docs/benchmarks.md).
//! Writing skips serde entirely: the server encodes each event once per time unit for many
//! subscribers, and Binance's key order must be kept exactly.

use super::EventError;
use crate::decimal::Decimal;
use crate::time::TimeUnit;
use serde::de::{DeserializeOwned, IgnoredAny};
use sonic_rs::{JsonContainerTrait, JsonType, JsonValueTrait, Object, Value};
use std::borrow::Cow;

/// Longest piece of client text (a key, an event type) echoed back in an error message.
const MAX_ECHO: usize = 64;

/// Cuts client text to 64 characters so an error message that echoes it stays small.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Deepest nesting of arrays and objects accepted. Events nest three levels at most (a publish
/// item four), and the tree builder recurses once per level with large stack frames (100 levels
/// overflow a 2 MiB thread stack in a debug build), so hostile nesting is refused before it runs.
pub const MAX_DEPTH: usize = 32;

/// Longest text field a published event may carry, in bytes. Binance's longest is a client
/// order id (36 characters); an asset or symbol is at most 20. Received events are not held to
/// it, since the sender is the exchange.
pub const MAX_TEXT_LEN: usize = 64;

/// Parses untrusted JSON into a tree: nesting past [`MAX_DEPTH`] is refused first, and an error
/// is one line (the parser's own message quotes the input after a line break).
pub fn parse_tree(bytes: &[u8]) -> Result<Value, String> {
    check_depth(bytes)?;
    sonic_rs::from_slice(bytes).map_err(|error| {
        let text = error.to_string();
        text.lines().next().unwrap_or_default().trim().to_owned()
    })
}

/// Fails when arrays and objects nest deeper than [`MAX_DEPTH`] (brackets inside strings do not
/// count). Malformed input passes: the parser reports it.
fn check_depth(bytes: &[u8]) -> Result<(), String> {
    // Fast path (a count the compiler vectorises): with no more opening brackets than the limit,
    // nothing can nest deeper. Events have a handful.
    let openings = bytes.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openings <= MAX_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("nested more than {MAX_DEPTH} levels deep"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The fields of one JSON object, taken one key at a time. It reads the parsed tree in place:
/// nothing is copied or rehashed until a value is converted.
pub(super) struct Reader<'a> {
    /// What the object is, for error messages: `"executionReport"`, `"listStatus: O[1]"`.
    context: Cow<'static, str>,
    /// The object's members in document order (a repeated key appears twice), each with whether
    /// it was taken.
    fields: Vec<(&'a str, &'a Value, bool)>,
    /// Reject keys nobody took (publishing); a receiving client ignores them instead, so it keeps
    /// working when Binance adds a field.
    strict: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(context: Cow<'static, str>, object: &'a Object, strict: bool) -> Self {
        Reader {
            context,
            fields: object
                .iter()
                .map(|(key, value)| (key, value, false))
                .collect(),
            strict,
        }
    }

    /// Names the object for error messages once its kind is known (an event, by its `e`).
    pub(super) fn rename(&mut self, context: &'static str) {
        self.context = Cow::Borrowed(context);
    }

    /// The first member named `key` not taken yet, now taken. A strict reader refuses a repeated
    /// key in [`Reader::finish`]; a lenient one keeps its first value. (Searching from the end
    /// for serde_json's last-wins made decoding 40 % slower: keys are taken in document order.)
    pub(super) fn take(&mut self, key: &str) -> Option<&'a Value> {
        let (_, value, taken) = self
            .fields
            .iter_mut()
            .find(|(name, _, taken)| !*taken && *name == key)?;
        *taken = true;
        Some(*value)
    }

    /// A reader for a nested object such as one entry of `B` or `O`.
    fn nested(
        &self,
        key: &'static str,
        index: usize,
        value: &'a Value,
    ) -> Result<Reader<'a>, EventError> {
        let context = Cow::Owned(format!("{}: {key}[{index}]", self.context));
        match value.as_object() {
            Some(object) => Ok(Reader::new(context, object, self.strict)),
            None => Err(EventError::InvalidField {
                context,
                key,
                meaning: "entry",
                message: format!("expected a JSON object, found {}", kind(value)),
            }),
        }
    }

    /// A mandatory field; `null` only passes when `T` is an `Option`.
    pub(super) fn req<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
        meaning: &'static str,
    ) -> Result<T, EventError> {
        match self.take(key) {
            Some(value) => self.convert(key, meaning, value),
            None => Err(EventError::MissingField {
                context: self.context.clone(),
                key,
                meaning,
            }),
        }
    }

    /// A conditional field: absent and `null` both mean `None`.
    pub(super) fn opt<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
        meaning: &'static str,
    ) -> Result<Option<T>, EventError> {
        match self.take(key) {
            Some(value) => self.convert(key, meaning, value),
            None => Ok(None),
        }
    }

    /// A mandatory timestamp in `unit`, returned in microseconds.
    pub(super) fn time(
        &mut self,
        key: &'static str,
        meaning: &'static str,
        unit: TimeUnit,
    ) -> Result<i64, EventError> {
        let value = self.req(key, meaning)?;
        self.micros(key, meaning, value, unit)
    }

    /// A conditional timestamp in `unit`, returned in microseconds.
    pub(super) fn opt_time(
        &mut self,
        key: &'static str,
        meaning: &'static str,
        unit: TimeUnit,
    ) -> Result<Option<i64>, EventError> {
        match self.opt(key, meaning)? {
            Some(value) => self.micros(key, meaning, value, unit).map(Some),
            None => Ok(None),
        }
    }

    /// An array field, each entry read by `read`.
    pub(super) fn list<T>(
        &mut self,
        key: &'static str,
        meaning: &'static str,
        mut read: impl FnMut(&mut Reader<'a>) -> Result<T, EventError>,
    ) -> Result<Vec<T>, EventError> {
        let entries = match self.take(key) {
            Some(value) => match value.as_array() {
                Some(entries) => entries,
                // Not an array: let serde word the mismatch, as for every other field.
                None => {
                    self.convert::<Vec<IgnoredAny>>(key, meaning, value)?;
                    return Err(self.invalid(key, meaning, "expected an array".into()));
                }
            },
            None => {
                return Err(EventError::MissingField {
                    context: self.context.clone(),
                    key,
                    meaning,
                });
            }
        };
        let mut items = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let mut reader = self.nested(key, index, entry)?;
            items.push(read(&mut reader)?);
            reader.finish()?;
        }
        Ok(items)
    }

    /// Fails on the first key nobody took, when strict.
    pub(super) fn finish(self) -> Result<(), EventError> {
        if !self.strict {
            return Ok(());
        }
        let Some((key, _, _)) = self.fields.iter().find(|(_, _, taken)| !taken) else {
            return Ok(());
        };
        let repeated = self
            .fields
            .iter()
            .any(|(name, _, taken)| *taken && name == key);
        let (context, key) = (self.context, clip(key));
        Err(if repeated {
            EventError::RepeatedField { context, key }
        } else {
            EventError::UnknownField { context, key }
        })
    }

    fn convert<T: DeserializeOwned>(
        &self,
        key: &'static str,
        meaning: &'static str,
        value: &Value,
    ) -> Result<T, EventError> {
        if self.strict
            && let Some(text) = value.as_str()
            && text.len() > MAX_TEXT_LEN
        {
            let message = format!(
                "{} bytes of text, more than the {MAX_TEXT_LEN} allowed",
                text.len()
            );
            return Err(self.invalid(key, meaning, message));
        }
        sonic_rs::from_value(value).map_err(|error| self.invalid(key, meaning, error.to_string()))
    }

    fn micros(
        &self,
        key: &'static str,
        meaning: &'static str,
        value: i64,
        unit: TimeUnit,
    ) -> Result<i64, EventError> {
        let micros = unit.to_micros(value);
        // to_micros saturates: a value that does not come back was out of range.
        if unit.from_micros(micros) == value {
            Ok(micros)
        } else {
            Err(self.invalid(key, meaning, format!("timestamp {value} is out of range")))
        }
    }

    fn invalid(&self, key: &'static str, meaning: &'static str, message: String) -> EventError {
        EventError::InvalidField {
            context: self.context.clone(),
            key,
            meaning,
            message,
        }
    }
}

/// The JSON type of a value ("a number", "an object", …), for error messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value.get_type() {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

/// Appends one compact JSON object to a buffer, key by key, in call order.
pub(super) struct Writer<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Writer<'a> {
    /// Opens an object.
    pub(super) fn object(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Writer { out, first: true }
    }

    /// Opens an event object with its `e` and `E` fields.
    pub(super) fn event(
        out: &'a mut Vec<u8>,
        event_type: &str,
        event_time_us: i64,
        unit: TimeUnit,
    ) -> Self {
        let mut writer = Writer::object(out);
        writer.str("e", event_type);
        writer.time("E", event_time_us, unit);
        writer
    }

    /// Closes the object.
    pub(super) fn end(self) {
        self.out.push(b'}');
    }

    /// Writes `"key":` (keys are static ASCII that needs no escaping).
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub(super) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    pub(super) fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    /// Writes `null` for `None` instead of omitting the key.
    pub(super) fn nullable_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(key, value),
            None => {
                self.key(key);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    pub(super) fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        write_int(self.out, value);
    }

    pub(super) fn opt_int(&mut self, key: &str, value: Option<i64>) {
        if let Some(value) = value {
            self.int(key, value);
        }
    }

    pub(super) fn opt_uint(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.key(key);
            write_uint(self.out, value);
        }
    }

    pub(super) fn time(&mut self, key: &str, micros: i64, unit: TimeUnit) {
        self.int(key, unit.from_micros(micros));
    }

    pub(super) fn opt_time(&mut self, key: &str, micros: Option<i64>, unit: TimeUnit) {
        if let Some(micros) = micros {
            self.time(key, micros, unit);
        }
    }

    pub(super) fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub(super) fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.bool(key, value);
        }
    }

    /// A decimal's text never needs escaping: it is digits, `-` and `.` only.
    pub(super) fn dec(&mut self, key: &str, value: &Decimal) {
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_str().as_bytes());
        self.out.push(b'"');
    }

    pub(super) fn opt_dec(&mut self, key: &str, value: Option<&Decimal>) {
        if let Some(value) = value {
            self.dec(key, value);
        }
    }

    /// Writes an array of objects, each filled by `write`.
    pub(super) fn list<T>(
        &mut self,
        key: &str,
        items: &[T],
        mut write: impl FnMut(&mut Writer<'_>, &T),
    ) {
        self.key(key);
        self.out.push(b'[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            let mut writer = Writer::object(self.out);
            write(&mut writer, item);
            writer.end();
        }
        self.out.push(b']');
    }
}

/// Writes a JSON string literal, escaping exactly what `serde_json` escapes.
pub(super) fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        out.extend_from_slice(escape);
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_uint(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // The remainder is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_uint(out, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for text in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\nx",
            "\u{0}\u{1f}\u{7f}",
            "é€😀",
            "\t\r\u{8}\u{c}/",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn integers() {
        for value in [0, 1, -1, 10, 1_499_405_658_658, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_int(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
        let mut out = Vec::new();
        write_uint(&mut out, u64::MAX);
        assert_eq!(String::from_utf8(out).unwrap(), u64::MAX.to_string());
    }

    #[test]
    fn clip_bounds_echoed_text() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(clip(&long).chars().count(), MAX_ECHO + 1);
    }
}
