//! The access log: one line per request, in the configured format (`json` or `text`), with the
//! same fields and shape as the other log lines, filtered by the same level (`RUST_LOG` too).
//!
//! Lines are formatted straight into per-thread buffers and written to standard output in
//! batches (every 100 ms, or sooner when a buffer fills), so a request costs no formatter
//! machinery, no allocation and no system call. Buffers are sharded by thread, so their locks
//! are uncontended.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;

/// A buffer larger than this is written out at once.
const FLUSH_AT: usize = 32 * 1024;
/// Room past `FLUSH_AT` for the line that crosses it (a line is rarely longer), so buffers
/// are allocated once at their full size and never regrow.
const LINE_ROOM: usize = 4 * 1024;
/// The size buffers are allocated with.
const CAPACITY: usize = FLUSH_AT + LINE_ROOM;
/// How often the flusher writes buffered lines.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
const SHARDS: usize = 16;

/// One request, as logged. Holds no secret and no signature.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Entry<'a> {
    /// ASCII in a safe alphabet (checked or generated).
    pub request_id: &'a [u8],
    pub route: &'a str,
    pub method: &'a str,
    /// The bytes of a `str` (the request target's path, which is ASCII).
    pub path: &'a [u8],
    pub status: u16,
    pub duration: Duration,
    pub upstream_status: Option<u16>,
    pub upstream: Option<Duration>,
    /// `allowed`, `denied` or `skipped`.
    pub auth: Option<&'static str>,
    pub reason: Option<&'static str>,
    pub error: Option<&'static str>,
    pub account: Option<&'a str>,
    /// Id of the secret that matched.
    pub secret: Option<&'a str>,
}

/// The access-log writer of one gateway.
#[derive(Debug)]
pub(crate) struct AccessLog {
    format: LogFormat,
    shards: Box<[Mutex<Vec<u8>>]>,
}

impl AccessLog {
    /// A writer producing lines in `format`.
    pub(crate) fn new(format: LogFormat) -> Self {
        AccessLog {
            format,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Vec::with_capacity(CAPACITY)))
                .collect(),
        }
    }

    /// Whether access lines are wanted (the `access` target at INFO passes the log filter).
    pub(crate) fn enabled() -> bool {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    }

    /// Buffers one line (if enabled).
    pub(crate) fn write(&self, entry: &Entry<'_>) {
        if !Self::enabled() {
            return;
        }
        let mut buffer = self.shard();
        let full = self.append(&mut buffer, entry);
        drop(buffer);
        if let Some(lines) = full {
            write_out(&lines);
        }
    }

    /// Formats `entry` onto `buffer`. A buffer that reached `FLUSH_AT` is handed back, to be
    /// written, and replaced by an empty one of full size.
    fn append(&self, buffer: &mut Vec<u8>, entry: &Entry<'_>) -> Option<Vec<u8>> {
        match self.format {
            LogFormat::Json => json_line(buffer, entry),
            LogFormat::Text => text_line(buffer, entry),
        }
        (buffer.len() >= FLUSH_AT).then(|| take_lines(buffer))
    }

    /// Writes every buffered line.
    pub(crate) fn flush(&self) {
        for shard in self.shards.iter() {
            let mut buffer = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if buffer.is_empty() {
                continue;
            }
            let lines = take_lines(&mut buffer);
            drop(buffer);
            write_out(&lines);
        }
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "the index is taken modulo SHARDS, and there are SHARDS shards"
    )]
    fn shard(&self) -> MutexGuard<'_, Vec<u8>> {
        thread_local! {
            static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let index = SHARD.with(|shard| {
            *shard.get().get_or_insert_with(|| {
                let index = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
                shard.set(Some(index));
                index
            })
        });
        // A panic while a line was being formatted leaves at worst a partial line.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The lines of `buffer`, which gets an empty one of full size back (so lines never regrow it).
fn take_lines(buffer: &mut Vec<u8>) -> Vec<u8> {
    std::mem::replace(buffer, Vec::with_capacity(CAPACITY))
}

/// Flushes `log` every [`FLUSH_INTERVAL`] until `stop` resolves, then once more.
pub(crate) async fn flusher(
    log: std::sync::Arc<AccessLog>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => log.flush(),
            () = &mut stop => break,
        }
    }
    log.flush();
}

fn write_out(lines: &[u8]) {
    // Logging must never take the gateway down: a closed stdout loses lines, nothing else.
    let _ = std::io::stdout().lock().write_all(lines);
}

fn json_line(out: &mut Vec<u8>, entry: &Entry<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out);
    out.extend_from_slice(b"\",\"level\":\"INFO\"");
    each_field(entry, |name, value| {
        out.extend_from_slice(name.json.as_bytes());
        value.write(out);
    });
    out.extend_from_slice(b",\"target\":\"access\"}\n");
}

fn text_line(out: &mut Vec<u8>, entry: &Entry<'_>) {
    timestamp(out);
    out.extend_from_slice(b"  INFO access:");
    each_field(entry, |name, value| {
        out.extend_from_slice(name.text.as_bytes());
        value.write(out);
    });
    out.push(b'\n');
}

enum Value<'a> {
    Str(&'a str),
    /// The bytes of a `str`, escaped as [`Value::Str`] is.
    Text(&'a [u8]),
    /// Text that never needs an escape: a request id (checked or generated), a method token, a
    /// fixed code.
    Plain(&'a [u8]),
    Int(u64),
    Millis(Duration),
}

impl Value<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(text) => quoted(out, text.as_bytes()),
            Value::Text(text) => quoted(out, text),
            Value::Plain(text) => {
                debug_assert!(!text.iter().copied().any(needs_escape));
                out.push(b'"');
                out.extend_from_slice(text);
                out.push(b'"');
            }
            // A status code has three digits: written without a formatter.
            Value::Int(n @ 100..=999) => {
                let n = *n as u16;
                out.extend_from_slice(&[
                    ascii_digit(u32::from(n / 100)),
                    ascii_digit(u32::from(n / 10)),
                    ascii_digit(u32::from(n)),
                ]);
            }
            Value::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            Value::Millis(duration) => {
                // In 64-bit arithmetic (`as_micros` is a u128, whose division is a call).
                let sub_micros = duration.subsec_micros();
                let millis = duration
                    .as_secs()
                    .saturating_mul(1000)
                    .saturating_add(u64::from(sub_micros / 1000));
                out.extend_from_slice(itoa::Buffer::new().format(millis).as_bytes());
                let fraction = (sub_micros % 1000) as u16;
                out.extend_from_slice(&[
                    b'.',
                    ascii_digit(u32::from(fraction / 100)),
                    ascii_digit(u32::from(fraction / 10)),
                    ascii_digit(u32::from(fraction)),
                ]);
            }
        }
    }
}

/// A field's name with what precedes its value in each format: `,"name":` and ` name=`.
struct Name {
    json: &'static str,
    text: &'static str,
}

macro_rules! name {
    ($name:literal) => {
        Name {
            json: concat!(",\"", $name, "\":"),
            text: concat!(" ", $name, "="),
        }
    };
}

/// Calls `emit` for each present field, in a fixed order.
fn each_field(entry: &Entry<'_>, mut emit: impl FnMut(&Name, Value<'_>)) {
    emit(&name!("request_id"), Value::Plain(entry.request_id));
    emit(&name!("route"), Value::Str(entry.route));
    emit(&name!("method"), Value::Plain(entry.method.as_bytes()));
    emit(&name!("path"), Value::Text(entry.path));
    emit(&name!("status"), Value::Int(u64::from(entry.status)));
    emit(&name!("duration_ms"), Value::Millis(entry.duration));
    if let Some(status) = entry.upstream_status {
        emit(&name!("upstream_status"), Value::Int(u64::from(status)));
    }
    if let Some(took) = entry.upstream {
        emit(&name!("upstream_ms"), Value::Millis(took));
    }
    // Fixed codes, then text from the request or the configuration.
    let codes = [
        (name!("auth"), entry.auth),
        (name!("reason"), entry.reason),
        (name!("error"), entry.error),
    ];
    for (name, value) in &codes {
        if let Some(value) = value {
            emit(name, Value::Plain(value.as_bytes()));
        }
    }
    let strings = [
        (name!("account"), entry.account),
        (name!("secret"), entry.secret),
    ];
    for (name, value) in &strings {
        if let Some(value) = value {
            emit(name, Value::Str(value));
        }
    }
}

/// A JSON string literal (also valid as the quoted form of the text format).
fn quoted(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    let mut rest = text;
    // Most values need no escape at all: one check, then one copy.
    if !any_needs_escape(rest) {
        out.extend_from_slice(rest);
        out.push(b'"');
        return;
    }
    // Runs of bytes that need no escape are copied whole.
    while let Some(at) = rest.iter().position(|&byte| needs_escape(byte)) {
        let (run, tail) = rest.split_at(at);
        out.extend_from_slice(run);
        rest = match tail.split_first() {
            Some((&byte, after)) => {
                escape(out, byte);
                after
            }
            None => tail,
        };
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Whether any byte of `bytes` [needs an escape](needs_escape).
fn any_needs_escape(bytes: &[u8]) -> bool {
    use crate::words::{any, below, equal};
    any(
        bytes,
        |word| below(word, 0x20) | equal(word, b'"') | equal(word, b'\\') | equal(word, 0x7f),
        needs_escape,
    )
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\' || byte == 0x7f
}

fn escape(out: &mut Vec<u8>, byte: u8) {
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            hex_digit(byte >> 4),
            hex_digit(byte),
        ]),
    }
}

/// The ASCII digit of `n % 10`. `b'0'` is 0x30 and a decimal digit fits in the low four bits,
/// so `|` adds without any carry.
fn ascii_digit(n: u32) -> u8 {
    b'0' | (n % 10) as u8
}

/// The lowercase hex digit of the low four bits of `nibble`.
#[allow(
    clippy::indexing_slicing,
    reason = "nibble & 0xf is below 16, the length of the table"
)]
fn hex_digit(nibble: u8) -> u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    HEX[usize::from(nibble & 0xf)]
}

/// `2026-11-24T21:33:20.736853Z`; the part up to the seconds is cached per thread.
fn timestamp(out: &mut Vec<u8>) {
    thread_local! {
        static CACHE: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != seconds {
            // Whole seconds since the epoch (a clock before 1970 reads as 1970), formatted
            // `YYYY-MM-DDTHH:MM:SSZ`: the 19 bytes before the `Z` are kept.
            let text = UNIX_EPOCH
                .checked_add(Duration::from_secs(seconds))
                .map(|whole| humantime::format_rfc3339_seconds(whole).to_string());
            if let Some(head) = text.as_ref().and_then(|text| text.as_bytes().get(..19)) {
                cache.1.copy_from_slice(head);
                cache.0 = seconds;
            }
        }
        out.extend_from_slice(&cache.1);
    });
    let mut micros = now.subsec_micros();
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ascii_digit(micros);
        micros /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

#[cfg(test)]
mod tests;
