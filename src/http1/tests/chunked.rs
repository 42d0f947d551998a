//! The chunked decoder: data ranges, every malformation, every bound.

use crate::http1::{ChunkedDecoder, Decoded, Http1Error, Limits};

/// Decodes `input` fed in pieces of `step` bytes; returns the data and the bytes the body took.
pub(in crate::http1) fn decode_in_steps(
    decoder: &mut ChunkedDecoder,
    input: &[u8],
    step: usize,
) -> Result<(Vec<u8>, Option<usize>), Http1Error> {
    let mut data = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let end = (offset + step).min(input.len());
        let mut piece = &input[offset..end];
        let mut piece_start = offset;
        loop {
            match decoder.decode(piece)? {
                Decoded::Data(range) => {
                    data.extend_from_slice(&piece[range.clone()]);
                    piece = &piece[range.end..];
                    piece_start += range.end;
                }
                Decoded::NeedMore => break,
                Decoded::Done { consumed } => return Ok((data, Some(piece_start + consumed))),
            }
        }
        offset = end;
    }
    Ok((data, None))
}

fn decode_all(input: &[u8]) -> Result<(Vec<u8>, Option<usize>), Http1Error> {
    decode_in_steps(
        &mut ChunkedDecoder::new(&Limits::default(), u64::MAX),
        input,
        input.len(),
    )
}

fn error(input: &[u8]) -> Http1Error {
    decode_all(input).expect_err("should be refused")
}

#[test]
fn decodes_chunks_into_ranges_of_the_input() {
    let input = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    let mut decoder = ChunkedDecoder::new(&Limits::default(), u64::MAX);
    assert_eq!(decoder.decode(input).unwrap(), Decoded::Data(3..8));
    assert_eq!(decoder.received(), 5);
    let rest = &input[8..];
    assert_eq!(decoder.decode(rest).unwrap(), Decoded::Data(5..12));
    assert_eq!(
        decoder.decode(&rest[12..]).unwrap(),
        Decoded::Done { consumed: 7 }
    );
    assert!(decoder.is_done());
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn any_split_of_the_input_gives_the_same_body() {
    let input = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n";
    for step in 1..=input.len() {
        let (data, consumed) = decode_in_steps(
            &mut ChunkedDecoder::new(&Limits::default(), u64::MAX),
            input,
            step,
        )
        .unwrap();
        assert_eq!(data, b"hello0123456789", "step {step}");
        assert_eq!(consumed, Some(input.len()), "step {step}");
    }
}

#[test]
fn bytes_after_the_body_are_not_consumed() {
    let (data, consumed) = decode_all(b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n").unwrap();
    assert_eq!(data, b"hi");
    assert_eq!(consumed, Some(12));
}

#[test]
fn hex_sizes_in_any_case_and_leading_zeros_up_to_16_digits() {
    let (data, _) = decode_all(b"0000000000000003\r\nabc\r\n0\r\n\r\n").unwrap();
    assert_eq!(data, b"abc");
    let (data, _) = decode_all(b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n").unwrap();
    assert_eq!(data.len(), 20);
}

#[test]
fn chunk_size_overflow_and_non_hex_are_400() {
    for input in [
        &b"00000000000000001\r\nx\r\n0\r\n\r\n"[..],
        b"fffffffffffffffff\r\n",
        b"g\r\n",
        b"\r\n",
        b"-1\r\n",
        b"+1\r\n",
        b"0x1\r\n",
        b";ext\r\n",
    ] {
        let err = error(input);
        assert_eq!(
            err,
            Http1Error::InvalidChunkSize,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn sixteen_f_digits_fit_but_exceed_the_body_bound() {
    let mut decoder = ChunkedDecoder::new(&Limits::default(), 1 << 20);
    assert_eq!(
        decoder.decode(b"ffffffffffffffff\r\n"),
        Err(Http1Error::BodyTooLarge)
    );
}

#[test]
fn body_total_is_bounded_413() {
    let mut decoder = ChunkedDecoder::new(&Limits::default(), 8);
    let result = decode_in_steps(&mut decoder, b"5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 64);
    assert_eq!(result.unwrap_err(), Http1Error::BodyTooLarge);
    assert_eq!(Http1Error::BodyTooLarge.status(), 413);
    let mut decoder = ChunkedDecoder::new(&Limits::default(), 9);
    assert!(decode_in_steps(&mut decoder, b"5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 64).is_ok());
}

#[test]
fn missing_crlf_after_size_or_data_is_400() {
    for input in [
        &b"5\rhello"[..],
        b"5\nhello",
        b"5\r\nhelloX\r\n",
        b"5\r\nhello\rX",
        b"5\r\nhello\n0\r\n\r\n",
        b"0\r\n\rX",
        b"0\r\nx: y\rX",
    ] {
        assert_eq!(
            error(input),
            Http1Error::MissingChunkCrlf,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn whitespace_only_before_an_extension() {
    let (data, _) = decode_all(b"1 \t; a=b\r\nx\r\n0\r\n\r\n").unwrap();
    assert_eq!(data, b"x");
    assert_eq!(error(b"1 \r\nx\r\n0\r\n\r\n"), Http1Error::InvalidChunkSize);
}

#[test]
fn chunk_extensions_are_skipped_and_bounded() {
    let (data, _) = decode_all(b"1;name=\"quoted value\";flag\r\nx\r\n0;last\r\n\r\n").unwrap();
    assert_eq!(data, b"x");
    let limits = Limits {
        max_chunk_extension: 4,
        max_chunk_extensions_total: 5,
        ..Limits::default()
    };
    let mut decoder = ChunkedDecoder::new(&limits, u64::MAX);
    assert_eq!(
        decoder.decode(b"1;abcde\r\n"),
        Err(Http1Error::InvalidChunkExtension),
        "per line"
    );
    let mut decoder = ChunkedDecoder::new(&limits, u64::MAX);
    let result = decode_in_steps(&mut decoder, b"1;abc\r\nx\r\n1;abc\r\ny\r\n0\r\n\r\n", 64);
    assert_eq!(
        result.unwrap_err(),
        Http1Error::InvalidChunkExtension,
        "per body"
    );
}

#[test]
fn control_bytes_and_bare_lf_in_extensions_are_400() {
    assert_eq!(error(b"1;a\0b\r\nx\r\n"), Http1Error::InvalidChunkExtension);
    assert_eq!(
        error(b"1;a\x7f\r\nx\r\n"),
        Http1Error::InvalidChunkExtension
    );
    assert_eq!(error(b"1;a\nx\r\n"), Http1Error::MissingChunkCrlf);
}

#[test]
fn trailers_are_discarded_and_bounded() {
    let input = b"1\r\nx\r\n0\r\nExpires: never\r\nX-A: 1\r\n\r\n";
    let (data, consumed) = decode_all(input).unwrap();
    assert_eq!(data, b"x");
    assert_eq!(consumed, Some(input.len()));
    let limits = Limits {
        max_trailer_bytes: 10,
        ..Limits::default()
    };
    let mut decoder = ChunkedDecoder::new(&limits, u64::MAX);
    assert_eq!(
        decoder.decode(b"0\r\nX-Long: 12345\r\n\r\n"),
        Err(Http1Error::InvalidTrailer)
    );
}

#[test]
fn malformed_trailer_lines_are_400() {
    for input in [
        &b"0\r\n folded\r\n\r\n"[..],
        b"0\r\nno-colon\r\n\r\n",
        b"0\r\n: empty-name\r\n\r\n",
        b"0\r\nX-A: a\0b\r\n\r\n",
        b"0\r\nX A: b\r\n\r\n",
        b"0\r\n\n",
    ] {
        assert_eq!(
            error(input),
            Http1Error::InvalidTrailer,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn an_unfinished_body_is_incomplete_at_end_of_stream() {
    let mut decoder = ChunkedDecoder::new(&Limits::default(), u64::MAX);
    assert_eq!(decoder.decode(b"5\r\nhel").unwrap(), Decoded::Data(3..6));
    assert_eq!(decoder.decode(b"").unwrap(), Decoded::NeedMore);
    assert_eq!(decoder.finish(), Err(Http1Error::IncompleteBody));
    assert_eq!(Http1Error::IncompleteBody.status(), 400);
}

#[test]
fn a_finished_decoder_consumes_nothing_more() {
    let mut decoder = ChunkedDecoder::new(&Limits::default(), u64::MAX);
    assert_eq!(
        decoder.decode(b"0\r\n\r\n").unwrap(),
        Decoded::Done { consumed: 5 }
    );
    assert_eq!(
        decoder.decode(b"more").unwrap(),
        Decoded::Done { consumed: 0 }
    );
}
