use http::{HeaderMap, HeaderValue};

use super::*;

const SIG: &str = "4f58ad0079425e08e16b6591d9285adc85c6e9a70d152839a1ac090661c3df36";

fn parse_err(value: &str) -> Rejection {
    SignatureHeader::parse(value).expect_err(value)
}

#[test]
fn parses_the_documented_form() {
    let header = SignatureHeader::parse(&format!("t=1492774577,v1={SIG},v0={SIG}")).map(|h| {
        (
            h.timestamp(),
            h.timestamp_text().to_owned(),
            h.signatures().len(),
        )
    });
    assert_eq!(header, Ok((1_492_774_577, "1492774577".to_owned(), 1)));
}

#[test]
fn empty_value_is_missing() {
    assert_eq!(parse_err(""), Rejection::MissingHeader);
}

#[test]
fn timestamp_grammar_is_strict() {
    for t in [
        "0123",
        "+1",
        " 1",
        "1 ",
        "1a",
        "1.5",
        "",
        "abc",
        "-1",
        "1e9",
        "1234567890123",
    ] {
        assert_eq!(
            parse_err(&format!("t={t},v1={SIG}")),
            Rejection::MalformedHeader,
            "{t:?}"
        );
    }
    assert_eq!(
        parse_err(&format!("t,v1={SIG}")),
        Rejection::MalformedHeader
    );
    assert_eq!(
        parse_err(&format!("t=1=1,v1={SIG}")),
        Rejection::MalformedHeader
    );
    for (t, value) in [("0", 0), ("7", 7), ("999999999999", 999_999_999_999)] {
        let parsed = SignatureHeader::parse(&format!("t={t},v1={SIG}")).map(|h| h.timestamp());
        assert_eq!(parsed, Ok(value), "{t}");
    }
}

#[test]
fn duplicate_or_missing_t_is_malformed() {
    assert_eq!(
        parse_err(&format!("t=1,t=1,v1={SIG}")),
        Rejection::MalformedHeader
    );
    assert_eq!(
        parse_err(&format!("t=1,v1={SIG},t=2")),
        Rejection::MalformedHeader
    );
    assert_eq!(parse_err(&format!("v1={SIG}")), Rejection::MalformedHeader);
    assert_eq!(parse_err("garbage"), Rejection::MalformedHeader);
    assert_eq!(parse_err(" "), Rejection::MalformedHeader);
    assert_eq!(
        parse_err(&format!("T=1,v1={SIG}")),
        Rejection::MalformedHeader
    );
}

#[test]
fn bad_v1_elements_are_malformed() {
    for bad in ["v1", "v1=", "v1=a=b", &format!("v1={SIG}=junk")] {
        assert_eq!(
            parse_err(&format!("t=1,v1={SIG},{bad}")),
            Rejection::MalformedHeader,
            "{bad}"
        );
    }
}

#[test]
fn other_keys_are_ignored() {
    for ignored in [" v1", "V1", "v0", "v2", "foo", "x", "v1 "] {
        let value = format!("t=1,{ignored}={SIG}");
        assert_eq!(parse_err(&value), Rejection::NoV1Signature, "{value}");
    }
    let value = format!("x,foo=bar=baz,t=1,v0,v1={SIG},w=");
    let header = SignatureHeader::parse(&value);
    assert_eq!(header.map(|h| h.signatures().to_vec()), Ok(vec![SIG]));
}

#[test]
fn empty_elements_are_skipped() {
    let value = format!(",,t=5,,v1={SIG},,");
    assert_eq!(SignatureHeader::parse(&value).map(|h| h.timestamp()), Ok(5));
    assert_eq!(parse_err("t=5,"), Rejection::NoV1Signature);
    assert_eq!(parse_err(",,,"), Rejection::MalformedHeader);
}

#[test]
fn non_visible_ascii_is_malformed() {
    for value in [
        format!("t=1,v1={SIG}\u{e9}"),
        format!("t=1,\tv1={SIG}"),
        "t=1\n".into(),
    ] {
        assert_eq!(parse_err(&value), Rejection::MalformedHeader, "{value:?}");
    }
}

#[test]
fn many_signatures_spill_and_keep_order() {
    let values: Vec<String> = (0..9).map(|i| format!("{i:064x}")).collect();
    let header = format!("t=1,v1={}", values.join(",v1="));
    let parsed = SignatureHeader::parse(&header).map(|h| h.signatures().join(","));
    assert_eq!(parsed, Ok(values.join(",")));
}

#[test]
fn debug_does_not_print_signatures() {
    let header = format!("t=1,v1={SIG}");
    let parsed = SignatureHeader::parse(&header).map(|h| format!("{h:?}"));
    assert!(parsed.is_ok_and(|text| !text.contains(SIG)));
}

#[test]
fn header_value_takes_exactly_one_field() {
    let mut headers = HeaderMap::new();
    assert_eq!(header_value(&headers), Err(Rejection::MissingHeader));
    headers.insert("Stripe-Signature", HeaderValue::from_static(""));
    assert_eq!(header_value(&headers), Err(Rejection::MissingHeader));
    headers.insert("STRIPE-SIGNATURE", HeaderValue::from_static("t=1,v1=ab"));
    assert_eq!(header_value(&headers), Ok("t=1,v1=ab"));
    headers.append("stripe-signature", HeaderValue::from_static("t=1,v1=ab"));
    assert_eq!(header_value(&headers), Err(Rejection::MalformedHeader));
    headers.insert("stripe-signature", HeaderValue::from_static("t=1,\tv1=ab"));
    assert_eq!(header_value(&headers), Err(Rejection::MalformedHeader));
    let latin1 = HeaderValue::from_bytes(b"t=1,v1=\xe9").expect("obs-text is a valid value");
    headers.insert("stripe-signature", latin1);
    assert_eq!(header_value(&headers), Err(Rejection::MalformedHeader));
}

#[test]
fn compute_signature_matches_a_public_vector() {
    let payload = br#"{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}"#;
    let secret = Secret::new("absec_pub1Zk3Lm5Nn7Pp9Qq2Rr4Ss6Tt8Uu0Vv2Ww");
    assert_eq!(
        compute_signature(&secret, 1_767_225_590, payload),
        "d4f3b4e8a850e3455da425aafa9f8c1547f41cffccfb2950c2757ae6fbc471a5"
    );
}

#[test]
fn signature_header_has_one_v1_per_secret() {
    let (a, b) = (Secret::new("whsec_a"), Secret::new("whsec_b"));
    let header = signature_header(&[&a, &b], 42, b"x");
    let expected = format!(
        "t=42,v1={},v1={}",
        compute_signature(&a, 42, b"x"),
        compute_signature(&b, 42, b"x")
    );
    assert_eq!(header, expected);
    assert_eq!(signature_header(&[], 42, b"x"), "t=42");
}

/// The README's table of differences from stripe-node: each row where the gateway refuses
/// what stripe-node accepts, and each row where both refuse the same input.
#[test]
fn stripe_node_divergences_are_pinned() {
    let stricter = [
        format!("t,v1={SIG}"),
        format!("t=-5,v1={SIG}"),
        format!("t=1,t=2,v1={SIG}"),
        format!("t=1=x,v1={SIG}"),
        format!("t=1,v1={SIG}=junk"),
        format!("t=1,foo=\tbar,v1={SIG}"),
        format!("t=\t1,v1={SIG}"),
    ];
    for value in stricter {
        assert_eq!(parse_err(&value), Rejection::MalformedHeader, "{value:?}");
    }
    let same = [
        (format!(" t=1,v1={SIG}"), Rejection::MalformedHeader),
        (format!("T=1,v1={SIG}"), Rejection::MalformedHeader),
        (format!("v1={SIG}"), Rejection::MalformedHeader),
        (format!("t=1,v0={SIG}"), Rejection::NoV1Signature),
        (format!("t=1, v1={SIG}"), Rejection::NoV1Signature),
        ("t=1".to_owned(), Rejection::NoV1Signature),
    ];
    for (value, expected) in same {
        assert_eq!(parse_err(&value), expected, "{value:?}");
    }
}

proptest::proptest! {
    #[test]
    fn the_word_check_of_header_text_agrees_with_a_byte_check(
        bytes in proptest::collection::vec(
            proptest::prop_oneof![
                30 => 0x20u8..=0x7e,
                1 => proptest::num::u8::ANY,
                1 => proptest::strategy::Just(0x7fu8),
                1 => proptest::strategy::Just(0x1fu8),
                1 => proptest::strategy::Just(0x80u8),
            ],
            0..40,
        ),
    ) {
        let expected = bytes.iter().all(|byte| (0x20..=0x7e).contains(byte));
        proptest::prop_assert_eq!(is_header_text(&bytes), expected);
    }
}
