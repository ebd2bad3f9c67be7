//! Reading and writing SBE blocks, groups and var data, little-endian, with every length checked
//! against the bytes there are. Nothing here panics on hostile input: a short or inconsistent
//! buffer is a [`SbeError`].

use super::layout::{Dimension, Field, VarData, block_length};

/// The message header: `blockLength, templateId, schemaId, version`, four u16.
pub const HEADER_LEN: usize = 8;

/// Group entries a decoder reserves room for up front. A count is only checked against the bytes
/// left (an entry may be a single byte), so a larger group grows as its entries are actually read
/// and memory stays in proportion to the input.
pub const MAX_PREALLOCATED: usize = 64;

/// Why bytes are not a message this decoder can read, or a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbeError {
    #[error("message truncated: {what} needs {needed} bytes at offset {at}, {available} left")]
    Truncated {
        what: &'static str,
        at: usize,
        needed: usize,
        available: usize,
    },
    #[error("schema id {0} is not 3")]
    WrongSchema(u16),
    #[error("template id {found} where {expected} was expected")]
    WrongTemplate { expected: u16, found: u16 },
    #[error("unknown template id {0}")]
    UnknownTemplate(u16),
    #[error("field `{0}` is missing from the block")]
    MissingField(&'static str),
    #[error("field `{field}` holds {code}, which is not a known value")]
    UnknownEnum { field: &'static str, code: u8 },
    #[error("`{0}` is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("`{0}` does not fit an SBE mantissa and exponent")]
    NotRepresentable(&'static str),
    #[error("`{field}` is {len} bytes, longer than its length prefix allows")]
    TooLong { field: &'static str, len: usize },
    #[error("a group of {0} entries is larger than the message")]
    GroupTooLarge(usize),
}

/// A fixed-size little-endian primitive with its SBE null value.
pub trait Primitive: Copy + PartialEq {
    const SIZE: usize;
    const NULL: Self;
    fn write(self, out: &mut [u8]);
    fn read(bytes: &[u8]) -> Self;
}

macro_rules! primitive {
    ($($ty:ty => $null:expr),+ $(,)?) => {$(
        impl Primitive for $ty {
            const SIZE: usize = std::mem::size_of::<$ty>();
            const NULL: Self = $null;
            fn write(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn read(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$ty>()];
                raw.copy_from_slice(bytes);
                <$ty>::from_le_bytes(raw)
            }
        }
    )+};
}

primitive!(
    i8 => i8::MIN, u8 => u8::MAX, i16 => i16::MIN, u16 => u16::MAX,
    i32 => i32::MIN, u32 => u32::MAX, i64 => i64::MIN, u64 => u64::MAX,
);

/// Appends messages to a buffer.
pub struct Encoder<'a> {
    pub out: &'a mut Vec<u8>,
    /// The schema version being written: fields added later are left out.
    pub version: u16,
}

/// A fixed block reserved in the buffer, filled field by field.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    start: usize,
    len: usize,
}

impl Encoder<'_> {
    /// Writes a message header and reserves its block (zeroed), as of this encoder's version.
    pub fn message(&mut self, template_id: u16, block: &[(u16, u16)]) -> Block {
        let len = block_length(block, self.version);
        for value in [len, template_id, super::layout::SCHEMA_ID, self.version] {
            self.out.extend_from_slice(&value.to_le_bytes());
        }
        self.reserve(usize::from(len))
    }

    /// Writes a group's dimension and returns the block length of each entry.
    pub fn group(
        &mut self,
        dimension: Dimension,
        block: &[(u16, u16)],
        count: usize,
    ) -> Result<usize, SbeError> {
        let len = block_length(block, self.version);
        self.out.extend_from_slice(&len.to_le_bytes());
        match dimension {
            Dimension::U16 => {
                let count = u16::try_from(count).map_err(|_| SbeError::GroupTooLarge(count))?;
                self.out.extend_from_slice(&count.to_le_bytes());
            }
            Dimension::U32 => {
                let count = u32::try_from(count)
                    .ok()
                    .filter(|count| *count <= i32::MAX as u32)
                    .ok_or(SbeError::GroupTooLarge(count))?;
                self.out.extend_from_slice(&count.to_le_bytes());
            }
        }
        Ok(usize::from(len))
    }

    /// Reserves one zeroed block of `len` bytes (a group entry).
    pub fn reserve(&mut self, len: usize) -> Block {
        let start = self.out.len();
        self.out.resize(start + len, 0);
        Block { start, len }
    }

    /// Sets a field, if this version has it.
    pub fn put<T: Primitive>(&mut self, block: Block, field: Field<T>, value: T) {
        if field.since <= self.version && field.offset + T::SIZE <= block.len {
            let at = block.start + field.offset;
            value.write(&mut self.out[at..at + T::SIZE]);
        }
    }

    /// Sets an optional field; `None` writes the type's null value.
    pub fn put_opt<T: Primitive>(&mut self, block: Block, field: Field<T>, value: Option<T>) {
        self.put(block, field, value.unwrap_or(T::NULL));
    }

    /// Appends a var data field: its length prefix, then the bytes.
    pub fn data(
        &mut self,
        name: &'static str,
        prefix: VarData,
        bytes: &[u8],
    ) -> Result<(), SbeError> {
        let len = bytes.len();
        if len > prefix.max_len() {
            return Err(SbeError::TooLong { field: name, len });
        }
        // The casts cannot truncate: `len` was checked against the prefix's maximum.
        match prefix {
            VarData::U8 => self.out.push(len as u8),
            VarData::U16 => self.out.extend_from_slice(&(len as u16).to_le_bytes()),
            VarData::U32 => self.out.extend_from_slice(&(len as u32).to_le_bytes()),
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// The message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub block_length: u16,
    pub template_id: u16,
    pub schema_id: u16,
    pub version: u16,
}

/// Reads a message front to back.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A fixed block as it arrived: fields past its end are absent (an older writer).
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    bytes: &'a [u8],
}

impl<'a> View<'a> {
    /// A field's value, `None` when the block is too short to hold it.
    pub fn get<T: Primitive>(&self, field: Field<T>) -> Option<T> {
        self.bytes
            .get(field.offset..field.offset + T::SIZE)
            .map(T::read)
    }

    /// A mandatory field.
    pub fn req<T: Primitive>(&self, field: Field<T>, name: &'static str) -> Result<T, SbeError> {
        self.get(field).ok_or(SbeError::MissingField(name))
    }

    /// An optional field: absent and null both mean `None`.
    pub fn opt<T: Primitive>(&self, field: Field<T>) -> Option<T> {
        self.get(field).filter(|value| *value != T::NULL)
    }
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, at: 0 }
    }

    fn take(&mut self, what: &'static str, needed: usize) -> Result<&'a [u8], SbeError> {
        let available = self.bytes.len() - self.at;
        if needed > available {
            return Err(SbeError::Truncated {
                what,
                at: self.at,
                needed,
                available,
            });
        }
        let taken = &self.bytes[self.at..self.at + needed];
        self.at += needed;
        Ok(taken)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, SbeError> {
        Ok(u16::read(self.take(what, 2)?))
    }

    /// The message header; the schema id must be 3.
    pub fn header(&mut self) -> Result<Header, SbeError> {
        let header = Header {
            block_length: self.u16("header")?,
            template_id: self.u16("header")?,
            schema_id: self.u16("header")?,
            version: self.u16("header")?,
        };
        if header.schema_id != super::layout::SCHEMA_ID {
            return Err(SbeError::WrongSchema(header.schema_id));
        }
        Ok(header)
    }

    /// A block of the length its header or dimension gave (honoured whatever the schema says).
    pub fn block(&mut self, what: &'static str, len: usize) -> Result<View<'a>, SbeError> {
        Ok(View {
            bytes: self.take(what, len)?,
        })
    }

    /// A group's dimension: (entry block length, count). The count is checked against the bytes
    /// left, so a hostile count cannot make the caller reserve memory for entries never sent.
    pub fn group(
        &mut self,
        what: &'static str,
        dimension: Dimension,
    ) -> Result<(usize, usize), SbeError> {
        let block_length = usize::from(self.u16(what)?);
        let count = match dimension {
            Dimension::U16 => usize::from(self.u16(what)?),
            Dimension::U32 => u32::read(self.take(what, 4)?) as usize,
        };
        let least = count.saturating_mul(block_length.max(1));
        if least > self.bytes.len() - self.at {
            return Err(SbeError::GroupTooLarge(count));
        }
        Ok((block_length, count))
    }

    /// A var data field's bytes.
    pub fn data(&mut self, what: &'static str, prefix: VarData) -> Result<&'a [u8], SbeError> {
        let len = match prefix {
            VarData::U8 => usize::from(self.take(what, 1)?[0]),
            VarData::U16 => usize::from(self.u16(what)?),
            VarData::U32 => u32::read(self.take(what, 4)?) as usize,
        };
        self.take(what, len)
    }

    /// A var data field as text.
    pub fn text(&mut self, what: &'static str, prefix: VarData) -> Result<&'a str, SbeError> {
        std::str::from_utf8(self.data(what, prefix)?).map_err(|_| SbeError::NotUtf8(what))
    }
}
