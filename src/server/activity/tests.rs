use super::*;

const TIMEOUTS: Timeouts = Timeouts {
    header_read: Duration::from_secs(10),
    idle: Duration::from_secs(60),
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn drop_at(at: Instant) -> Option<Due> {
    Some(Due {
        at,
        step: Step::Drop,
    })
}

#[test]
fn the_first_head_is_due_from_accept_whatever_is_read() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
    // Bytes trickling in (a byte a second) do not move it.
    for n in 1..10 {
        assert!(!state.bytes_read(accepted + secs(n)));
    }
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
    // A graceful close does not extend it either.
    state.close(accepted + secs(1));
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
}

#[test]
fn nothing_is_due_while_a_request_is_in_flight() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    state.start_request();
    state.start_request();
    assert_eq!(state.due(TIMEOUTS), None);
    assert!(!state.finish_request(accepted + secs(100)));
    assert_eq!(state.due(TIMEOUTS), None, "one stream is still open");
    assert!(state.finish_request(accepted + secs(200)));
    assert_eq!(
        state.due(TIMEOUTS),
        Some(Due {
            at: accepted + secs(260),
            step: Step::CloseGracefully
        })
    );
}

#[test]
fn an_http1_head_after_idle_is_due_from_its_first_byte() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    state.start_request();
    state.finish_request(accepted + secs(1));
    assert!(state.bytes_read(accepted + secs(30)));
    assert!(
        !state.bytes_read(accepted + secs(31)),
        "only the first byte counts"
    );
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(40)));
    state.start_request();
    assert_eq!(state.due(TIMEOUTS), None);
}

#[test]
fn a_graceful_close_gets_one_header_read_timeout_to_finish() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    state.start_request();
    state.close(accepted + secs(5));
    assert_eq!(state.due(TIMEOUTS), None, "the request finishes first");
    state.finish_request(accepted + secs(20));
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(30)));
    state.close(accepted + secs(25));
    assert_eq!(
        state.due(TIMEOUTS),
        drop_at(accepted + secs(30)),
        "first close counts"
    );
}
