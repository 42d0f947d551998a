use super::*;

#[test]
fn lines_are_kept_in_order_and_read_back() {
    let mut fields = VerbatimFields::new();
    fields.push(b"User-Agent", b"curl/8", 64);
    fields.push(b"accept", b"*/*", 64);
    assert_eq!(fields.as_bytes(), b"User-Agent: curl/8\r\naccept: */*\r\n");
    let pairs: Vec<_> = fields.iter().collect();
    assert_eq!(
        pairs,
        vec![
            (&b"User-Agent"[..], &b"curl/8"[..]),
            (&b"accept"[..], &b"*/*"[..])
        ]
    );
    assert!(!fields.has_date());
}

#[test]
fn merging_appends_lowercased_fields_and_leaves_present_names_alone() {
    let mut fields = VerbatimFields::new();
    fields.push(b"Content-Type", b"text/plain", 64);
    fields.push(b"Set-Cookie", b"a=1", 64);
    fields.push(b"set-cookie", b"b=2", 64);
    fields.push(b"Date", b"Thu, 01 Jan 1970 00:00:00 GMT", 64);
    assert!(fields.has_date());
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    fields.merge_into(&mut headers);
    assert_eq!(headers["content-type"], "application/json");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(headers["date"], "Thu, 01 Jan 1970 00:00:00 GMT");
}

#[test]
fn the_stripe_signature_lines_are_found_and_counted() {
    let mut fields = VerbatimFields::new();
    assert_eq!(fields.stripe_signature(), (None, 0));
    fields.push(b"accept", b"*/*", 64);
    fields.push(b"Stripe-Signature", b"t=1,v1=ab", 64);
    assert_eq!(fields.stripe_signature(), (Some(&b"t=1,v1=ab"[..]), 1));
    fields.push(b"stripe-signature", b"t=2", 64);
    assert_eq!(fields.stripe_signature(), (Some(&b"t=1,v1=ab"[..]), 2));
    let mut empty = VerbatimFields::new();
    empty.push(b"stripe-signature", b"", 64);
    assert_eq!(empty.stripe_signature(), (Some(&b""[..]), 1));
}

#[test]
fn values_may_be_empty_or_hold_colons() {
    let mut fields = VerbatimFields::new();
    fields.push(b"referer", b"https://example.com:8443/a", 64);
    fields.push(b"accept", b"", 64);
    let pairs: Vec<_> = fields.iter().collect();
    assert_eq!(
        pairs,
        vec![
            (&b"referer"[..], &b"https://example.com:8443/a"[..]),
            (&b"accept"[..], &b""[..])
        ]
    );
}

#[test]
fn the_lists_are_what_the_name_tests_accept() {
    for name in REQUEST_NAMES {
        assert!(request_name(name.as_bytes()), "{name}");
        assert!(request_name(name.to_ascii_uppercase().as_bytes()), "{name}");
    }
    for name in RESPONSE_NAMES {
        assert!(response_name(name.as_bytes()), "{name}");
        assert!(
            response_name(name.to_ascii_uppercase().as_bytes()),
            "{name}"
        );
    }
    let request = REQUEST_NAMES.iter().filter(|n| response_name(n.as_bytes()));
    let both: Vec<&str> = request.copied().collect();
    assert_eq!(both, ["cache-control", "content-type"]);
}

#[test]
fn names_match_in_any_case_and_only_whole() {
    assert!(request_name(b"User-Agent"));
    assert!(request_name(b"ACCEPT"));
    assert!(!request_name(b"accept-charset-x"));
    assert!(!request_name(b"accep"));
    assert!(!request_name(b""));
    assert!(response_name(b"Content-Type"));
    assert!(!response_name(b"content-length"));
}

#[test]
fn no_name_the_gateway_reads_sets_or_strips_is_relayed_verbatim() {
    // Read by a phase, set on the way, framing or hop-by-hop: these must stay in the map.
    let kept = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "http2-settings",
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
        "access-control-allow-origin",
        "access-control-expose-headers",
        "vary",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
    ];
    for name in kept {
        assert!(!request_name(name.as_bytes()), "{name}");
        assert!(!response_name(name.as_bytes()), "{name}");
    }
    for name in REQUEST_NAMES.iter().chain(RESPONSE_NAMES) {
        assert!(!name.contains('_') && !name.starts_with("x-"), "{name}");
        assert_eq!(*name, name.to_ascii_lowercase());
    }
}

/// The lines a head's verbatim fields become when parsed, and the same fields pushed one by
/// one, as the codec would without copying runs.
fn received_and_pushed(head: &[u8]) -> (VerbatimFields, VerbatimFields) {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut slots);
    let status = request.parse(head).expect("a valid head");
    assert!(status.is_complete());
    let (mut received, mut pushed) = (VerbatimFields::new(), VerbatimFields::new());
    let mut run = Received::new(head);
    for field in request.headers.iter() {
        if request_name(field.name.as_bytes()) {
            run.push(&mut received, field.name.as_bytes(), field.value);
            pushed.push(field.name.as_bytes(), field.value, head.len());
        }
    }
    run.flush(&mut received);
    (received, pushed)
}

#[test]
fn received_lines_are_copied_in_runs_and_read_as_if_pushed() {
    let head = b"POST /api/x HTTP/1.1\r\n\
        Host: a.example\r\n\
        User-Agent: curl/8\r\n\
        Accept: */*\r\n\
        Content-Length: 2\r\n\
        Stripe-Signature: t=1,v1=ab\r\n\
        content-type:application/json\r\n\
        Accept-Language:  en \r\n\
        Cookie: a=1\r\n\
        Referer: \r\n\
        \r\n";
    let (received, pushed) = received_and_pushed(head);
    assert_eq!(
        received.as_bytes(),
        &b"User-Agent: curl/8\r\nAccept: */*\r\nStripe-Signature: t=1,v1=ab\r\n\
        content-type: application/json\r\nAccept-Language: en\r\nCookie: a=1\r\nReferer: \r\n"[..]
    );
    assert_eq!(received, pushed);
    assert_eq!(received.stripe_signature(), (Some(&b"t=1,v1=ab"[..]), 1));
}

#[test]
fn the_signature_is_found_wherever_its_run_starts() {
    for head in [
        &b"GET / HTTP/1.1\r\nStripe-Signature: t=1,v1=cd\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nAccept: x\r\nHost: h\r\nstripe-signature: t=1,v1=cd\r\nAccept: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nAccept:x\r\nstripe-signature:t=1,v1=cd\r\nStripe-Signature: t=2\r\n\r\n",
    ] {
        let (received, pushed) = received_and_pushed(head);
        assert_eq!(received, pushed, "{}", String::from_utf8_lossy(head));
        assert_eq!(received.stripe_signature().0, Some(&b"t=1,v1=cd"[..]));
    }
}

#[test]
fn slices_from_elsewhere_are_pushed_not_copied_from_the_head() {
    let head = b"GET / HTTP/1.1\r\nAccept: x\r\n\r\n";
    let mut lines = VerbatimFields::new();
    let mut run = Received::new(head);
    run.push(&mut lines, b"Accept", b"elsewhere");
    run.flush(&mut lines);
    assert_eq!(lines.as_bytes(), b"Accept: elsewhere\r\n");
}

proptest::proptest! {
    #[test]
    fn any_spacing_of_received_fields_reads_as_if_pushed(
        fields in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "Accept", "user-agent", "Host", "Content-Length", "Stripe-Signature",
                    "X-Other", "cookie", "Date",
                ]),
                "[!-~]{0,6}",
                proptest::sample::select(vec![": ", ":", ":  ", ":\t"]),
                proptest::sample::select(vec!["", " ", "\t"]),
            ),
            0..8,
        ),
    ) {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for (name, value, separator, trailing) in &fields {
            let value = if *name == "Content-Length" { "1" } else { value.as_str() };
            head.extend_from_slice(format!("{name}{separator}{value}{trailing}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let (received, pushed) = received_and_pushed(&head);
        proptest::prop_assert_eq!(received, pushed);
    }
}

#[test]
fn fields_the_gateway_sets_are_refused_with_a_control_byte_and_kept_with_a_tab() {
    let mut lines = VerbatimFields::new();
    assert!(lines.push_field("x-a", b"tab\tinside and obs-text \xe9 after eight bytes"));
    assert!(lines.push_field("x-b", b""));
    for bad in [
        &b"usr\x01"[..],
        b"0123456789\x7f",
        b"line\r\nX-Injected: 1",
        b"nul\0",
    ] {
        assert!(!lines.push_field("x-c", bad), "{bad:?}");
    }
    assert_eq!(
        lines.as_bytes(),
        &b"x-a: tab\tinside and obs-text \xe9 after eight bytes\r\nx-b: \r\n"[..]
    );
}
