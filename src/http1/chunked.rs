//! An incremental decoder for chunked bodies (RFC 9112 §7.1): feed it whatever bytes arrived,
//! get back ranges of body data inside them. It keeps a few counters, never a buffer, never
//! panics and never indexes outside the input, whatever the bytes.

use std::ops::Range;

use super::{Http1Error, Limits};

/// The most hex digits a chunk size may have (leading zeros included): 16 fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// `input[range]` is body data; the call consumed `range.end` bytes of the input.
    Data(Range<usize>),
    /// The call consumed all the input (framing bytes only): feed more.
    NeedMore,
    /// The body (trailers included) ended after `consumed` bytes of the input; what follows
    /// belongs to the next message on the connection.
    Done {
        /// Input bytes that were part of this body.
        consumed: usize,
    },
}

/// The state of one chunked body being read.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// While reading a size line, the size so far; in `Data`, the bytes left in the chunk.
    size: u64,
    digits: u8,
    line_extension: usize,
    total_extension: usize,
    trailer_bytes: usize,
    trailer_name: usize,
    received: u64,
    max_body: u64,
    max_chunk_extension: usize,
    max_chunk_extensions_total: usize,
    max_trailer_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    SizeSpace,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

impl ChunkedDecoder {
    /// A decoder for one body, holding at most `max_body` bytes of data (beyond:
    /// [`Http1Error::BodyTooLarge`], raised as soon as a chunk size announces it).
    pub fn new(limits: &Limits, max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line_extension: 0,
            total_extension: 0,
            trailer_bytes: 0,
            trailer_name: 0,
            received: 0,
            max_body,
            max_chunk_extension: limits.max_chunk_extension,
            max_chunk_extensions_total: limits.max_chunk_extensions_total,
            max_trailer_bytes: limits.max_trailer_bytes,
        }
    }

    /// Decodes from the start of `input`, which continues where the previous call's consumed
    /// bytes ended. Returns at the first data, at the end of the body, or when the input is
    /// used up. An error is final: answer [`Http1Error::status`] and close.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Http1Error> {
        let mut position = 0usize;
        loop {
            if self.state == State::Done {
                return Ok(Decoded::Done { consumed: position });
            }
            let Some(rest) = input.get(position..).filter(|rest| !rest.is_empty()) else {
                return Ok(Decoded::NeedMore);
            };
            if self.state == State::Data {
                let take = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                // `take` ≤ `rest.len()`, so neither the sum nor the difference can overflow.
                let end = position.saturating_add(take);
                self.size = self.size.saturating_sub(take as u64);
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                return Ok(Decoded::Data(position..end));
            }
            // Framing bytes, one at a time: size lines and trailers are short.
            for &byte in rest {
                position = position.saturating_add(1);
                self.step(byte)?;
                if matches!(self.state, State::Data | State::Done) {
                    break;
                }
            }
        }
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body data bytes announced so far (data handed out plus the rest of the current chunk).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// For the driver at end of stream: `Ok` if the body ended, else
    /// [`Http1Error::IncompleteBody`].
    pub fn finish(&self) -> Result<(), Http1Error> {
        if self.is_done() {
            Ok(())
        } else {
            Err(Http1Error::IncompleteBody)
        }
    }

    fn step(&mut self, byte: u8) -> Result<(), Http1Error> {
        use State::{
            Data, DataCr, DataLf, Done, EndLf, Extension, Size, SizeLf, SizeSpace, TrailerLf,
            TrailerName, TrailerStart, TrailerValue,
        };
        self.state = match (self.state, byte) {
            (Size, _) if byte.is_ascii_hexdigit() => self.size_digit(byte)?,
            (Size, b';') if self.digits > 0 => Extension,
            (Size, b' ' | b'\t') if self.digits > 0 => SizeSpace,
            (Size, b'\r') if self.digits > 0 => SizeLf,
            (Size, b'\n') if self.digits > 0 => return Err(Http1Error::MissingChunkCrlf),
            (Size, _) => return Err(Http1Error::InvalidChunkSize),
            // BWS is only allowed before a `;` (§7.1.1), never before the line ending.
            (SizeSpace, b' ' | b'\t') => SizeSpace,
            (SizeSpace, b';') => Extension,
            (SizeSpace, _) => return Err(Http1Error::InvalidChunkSize),
            (Extension, b'\r') => SizeLf,
            (Extension, _) => self.extension_byte(byte)?,
            (SizeLf, b'\n') => self.size_line_end()?,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => self.next_chunk(),
            (SizeLf | DataCr | DataLf, _) => return Err(Http1Error::MissingChunkCrlf),
            (TrailerStart, b'\r') => self.trailer_byte(EndLf)?,
            (TrailerStart | TrailerName, _) => self.trailer_name_byte(byte)?,
            (TrailerValue, b'\r') => self.trailer_byte(TrailerLf)?,
            (TrailerValue, _) if is_field_value_byte(byte) => self.trailer_byte(TrailerValue)?,
            (TrailerValue, _) => return Err(Http1Error::InvalidTrailer),
            (TrailerLf, b'\n') => self.trailer_byte(TrailerStart)?,
            (EndLf, b'\n') => Done,
            (TrailerLf | EndLf, _) => return Err(Http1Error::MissingChunkCrlf),
            // `decode` hands data bytes out in bulk and stops at `Done`.
            (Data | Done, _) => self.state,
        };
        Ok(())
    }

    fn size_digit(&mut self, byte: u8) -> Result<State, Http1Error> {
        let digit = match byte {
            b'0'..=b'9' => byte.wrapping_sub(b'0'),
            b'a'..=b'f' => byte.wrapping_sub(b'a').wrapping_add(10),
            _ => byte.wrapping_sub(b'A').wrapping_add(10),
        };
        self.digits = self.digits.saturating_add(1);
        if self.digits > MAX_SIZE_DIGITS {
            return Err(Http1Error::InvalidChunkSize);
        }
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|size| size.checked_add(u64::from(digit)))
            .ok_or(Http1Error::InvalidChunkSize)?;
        Ok(State::Size)
    }

    /// Extensions are skipped, not interpreted; bare LF and other control bytes are refused
    /// (a chunk line another parser splits differently is a smuggling vector).
    fn extension_byte(&mut self, byte: u8) -> Result<State, Http1Error> {
        if !is_field_value_byte(byte) {
            return Err(if byte == b'\n' {
                Http1Error::MissingChunkCrlf
            } else {
                Http1Error::InvalidChunkExtension
            });
        }
        self.line_extension = self.line_extension.saturating_add(1);
        self.total_extension = self.total_extension.saturating_add(1);
        if self.line_extension > self.max_chunk_extension
            || self.total_extension > self.max_chunk_extensions_total
        {
            return Err(Http1Error::InvalidChunkExtension);
        }
        Ok(State::Extension)
    }

    fn size_line_end(&mut self) -> Result<State, Http1Error> {
        if self.size == 0 {
            return Ok(State::TrailerStart);
        }
        self.received = self
            .received
            .checked_add(self.size)
            .filter(|&total| total <= self.max_body)
            .ok_or(Http1Error::BodyTooLarge)?;
        Ok(State::Data)
    }

    fn next_chunk(&mut self) -> State {
        self.size = 0;
        self.digits = 0;
        self.line_extension = 0;
        State::Size
    }

    fn trailer_name_byte(&mut self, byte: u8) -> Result<State, Http1Error> {
        // A trailer line starting with whitespace would be obs-fold (RFC 9112 §5.2).
        if byte == b':' && self.trailer_name > 0 {
            self.trailer_name = 0;
            return self.trailer_byte(State::TrailerValue);
        }
        if !is_token_byte(byte) {
            return Err(Http1Error::InvalidTrailer);
        }
        self.trailer_name = self.trailer_name.saturating_add(1);
        self.trailer_byte(State::TrailerName)
    }

    /// Counts one byte of the trailer section against its limit.
    fn trailer_byte(&mut self, next: State) -> Result<State, Http1Error> {
        self.trailer_bytes = self.trailer_bytes.saturating_add(1);
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(Http1Error::InvalidTrailer);
        }
        Ok(next)
    }
}

/// HTAB, SP, VCHAR, obs-text: what a field value (or a skipped chunk extension) may hold.
fn is_field_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= b' ' && byte != 0x7f)
}

/// tchar (RFC 9110 §5.6.2).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}
