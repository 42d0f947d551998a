use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame};

use super::*;

const TIMEOUTS: Timeouts = Timeouts {
    header_read: Duration::from_secs(10),
    idle: Duration::from_secs(60),
    send: Duration::from_secs(30),
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

fn close_at(at: Instant) -> Option<Due> {
    Some(Due {
        at,
        step: Step::CloseGracefully,
    })
}

/// A connection accepted at `accepted` with one request in flight (waiting on its source).
fn serving(accepted: Instant) -> State {
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    state.start_request();
    state
}

#[test]
fn the_first_head_is_due_from_accept_whatever_is_read() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
    // Bytes trickling in (a byte a second) do not move it.
    for n in 1..10 {
        state.bytes_read(accepted + secs(n));
    }
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
    // A graceful close does not extend it either.
    state.close(accepted + secs(1));
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(10)));
}

#[test]
fn nothing_is_due_while_requests_wait_on_their_source() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.start_request();
    assert_eq!(state.due(TIMEOUTS), None);
    state.finish_request(accepted + secs(100), Waiting::OnSource);
    assert_eq!(state.due(TIMEOUTS), None, "one stream is still open");
    state.finish_request(accepted + secs(200), Waiting::OnSource);
    assert_eq!(state.due(TIMEOUTS), close_at(accepted + secs(260)));
}

#[test]
fn an_http1_head_after_idle_is_due_from_its_first_byte() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.finish_request(accepted + secs(1), Waiting::OnSource);
    state.bytes_read(accepted + secs(30));
    state.bytes_read(accepted + secs(31));
    assert_eq!(
        state.due(TIMEOUTS),
        drop_at(accepted + secs(40)),
        "only the first byte counts"
    );
    state.start_request();
    assert_eq!(state.due(TIMEOUTS), None);
}

#[test]
fn a_graceful_close_gets_one_header_read_timeout_to_finish() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.close(accepted + secs(5));
    assert_eq!(state.due(TIMEOUTS), None, "the request finishes first");
    state.finish_request(accepted + secs(20), Waiting::OnSource);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(30)));
    state.close(accepted + secs(25));
    assert_eq!(
        state.due(TIMEOUTS),
        drop_at(accepted + secs(30)),
        "first close counts"
    );
}

#[test]
fn a_response_the_client_does_not_take_is_dropped_send_timeout_after_it_was_ready() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    // Ready at 5 s; hyper never asks for a frame (a zero HTTP/2 window, a full socket).
    state.waiting_changed(accepted + secs(5), Waiting::OnSource, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(35)));
    // Nor does a graceful close (server shutdown) extend it.
    state.close(accepted + secs(6));
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(35)));
}

#[test]
fn each_frame_taken_is_progress_and_waiting_on_the_source_has_no_send_deadline() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.waiting_changed(accepted + secs(1), Waiting::OnSource, Waiting::OnClient);
    // Hyper takes frames at 20 s and 40 s: each moves the deadline.
    state.waiting_changed(accepted + secs(20), Waiting::OnClient, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(50)));
    state.waiting_changed(accepted + secs(40), Waiting::OnClient, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(70)));
    // Then the upstream takes 100 s for the next frame: the route's timeout, not this one.
    state.waiting_changed(accepted + secs(41), Waiting::OnClient, Waiting::OnSource);
    assert_eq!(state.due(TIMEOUTS), None);
    state.waiting_changed(accepted + secs(141), Waiting::OnSource, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(171)));
}

#[test]
fn progress_on_any_response_counts_for_all_but_a_new_one_waiting_does_not() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.start_request();
    state.start_request();
    // Stream 1 is stuck from 1 s; stream 2 becomes ready at 20 s: no progress.
    state.waiting_changed(accepted + secs(1), Waiting::OnSource, Waiting::OnClient);
    state.waiting_changed(accepted + secs(20), Waiting::OnSource, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(31)));
    // Stream 2 is read: hyper asks it for frames, which keeps the connection.
    state.waiting_changed(accepted + secs(25), Waiting::OnClient, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(55)));
    // Stream 2 ends after its last frame was taken; stream 1 is still stuck.
    state.finish_request(accepted + secs(26), Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(55)));
    // A reset of the stuck stream is no progress, but leaves nothing waiting.
    state.finish_request(accepted + secs(50), Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), None, "stream 3 waits on its source");
}

#[test]
fn a_blocked_write_is_due_send_timeout_later_whatever_else_is_going_on() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    // Waiting on its source, but the socket has been full since 1 s.
    state.write_blocked(accepted + secs(1));
    state.write_blocked(accepted + secs(2));
    assert_eq!(
        state.due(TIMEOUTS),
        drop_at(accepted + secs(31)),
        "first block counts"
    );
    // A response that waited longer still counts from its own start.
    state.waiting_changed(accepted + secs(3), Waiting::OnSource, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(31)));
    state.wrote();
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(33)));
    // An HTTP/1 answer can end in hyper's buffer: idle, but its bytes do not go out.
    state.finish_request(accepted + secs(4), Waiting::OnClient);
    state.write_blocked(accepted + secs(5));
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(35)));
    state.wrote();
    assert_eq!(state.due(TIMEOUTS), close_at(accepted + secs(64)));
}

#[test]
fn the_idle_timeout_counts_from_the_end_of_the_last_response() {
    let accepted = Instant::now();
    let mut state = serving(accepted);
    state.waiting_changed(accepted + secs(1), Waiting::OnSource, Waiting::OnClient);
    state.waiting_changed(accepted + secs(29), Waiting::OnClient, Waiting::OnClient);
    state.finish_request(accepted + secs(30), Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), close_at(accepted + secs(90)));
    // The next request waits on the client afresh, from when it is ready.
    state.start_request();
    state.waiting_changed(accepted + secs(100), Waiting::OnSource, Waiting::OnClient);
    assert_eq!(state.due(TIMEOUTS), drop_at(accepted + secs(130)));
}

#[test]
fn the_driver_is_woken_only_for_a_deadline_before_its_timer() {
    let accepted = Instant::now();
    let mut state = State::new(accepted, TIMEOUTS.header_read);
    assert!(state.wakes_driver(TIMEOUTS), "no timer yet");
    assert_eq!(state.arm(TIMEOUTS), drop_at(accepted + secs(10)));
    assert!(!state.wakes_driver(TIMEOUTS));
    // A request in flight has no deadline: the timer may fire early, harmlessly.
    state.start_request();
    assert!(!state.wakes_driver(TIMEOUTS));
    assert_eq!(state.arm(TIMEOUTS), None);
    // The response waits on the client: there was no timer.
    state.waiting_changed(accepted + secs(1), Waiting::OnSource, Waiting::OnClient);
    assert!(state.wakes_driver(TIMEOUTS));
    state.arm(TIMEOUTS);
    // Progress, then a wait on the source, then a new frame: all later than the timer.
    state.waiting_changed(accepted + secs(2), Waiting::OnClient, Waiting::OnClient);
    state.waiting_changed(accepted + secs(3), Waiting::OnClient, Waiting::OnSource);
    state.waiting_changed(accepted + secs(4), Waiting::OnSource, Waiting::OnClient);
    assert!(!state.wakes_driver(TIMEOUTS), "one wake per send_timeout");
    // The end of the request: idle from 5 s, closing at 65 s, later than the timer (31 s).
    state.finish_request(accepted + secs(5), Waiting::OnClient);
    assert!(!state.wakes_driver(TIMEOUTS));
    // A head beginning at 6 s is due at 16 s: before the timer.
    state.bytes_read(accepted + secs(6));
    assert!(state.wakes_driver(TIMEOUTS));
}

/// A body that yields `Pending` for each `None` and a frame for each `Some`.
struct Script(VecDeque<Option<&'static str>>);

impl Body for Script {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut().0.pop_front() {
            Some(Some(data)) => {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(data.as_bytes())))))
            }
            Some(None) => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

fn poll(
    body: &mut Tracked<Script>,
) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
    Pin::new(body).poll_frame(&mut Context::from_waker(Waker::noop()))
}

fn send_due(activity: &Activity) -> bool {
    activity.due().is_some_and(|due| due.step == Step::Drop)
}

#[test]
fn a_tracked_body_waits_on_the_client_between_frames_and_on_its_source_while_pending() {
    let activity = Activity::new(Instant::now(), TIMEOUTS, true);
    let in_flight = activity.start_request();
    assert_eq!(
        activity.due(),
        None,
        "the service is preparing the response"
    );
    let script = [Some("a"), None, Some("b")].into_iter().collect();
    let mut body = Tracked::new(Script(script), in_flight);
    assert!(send_due(&activity), "ready: waits on the client");
    assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(_)))));
    assert!(send_due(&activity), "a frame taken: waits on the client");
    assert!(poll(&mut body).is_pending());
    assert_eq!(activity.due(), None, "waits on its source");
    assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(_)))));
    assert!(send_due(&activity));
    assert!(matches!(poll(&mut body), Poll::Ready(None)));
    assert_eq!(activity.due(), None, "ended, still in flight until dropped");
    drop(body);
    assert_eq!(
        activity.due().map(|due| due.step),
        Some(Step::CloseGracefully),
        "idle"
    );
}

#[test]
fn a_tracked_body_dropped_while_waiting_on_the_client_leaves_the_connection_idle() {
    let activity = Activity::new(Instant::now(), TIMEOUTS, true);
    let body = Tracked::new(Script(VecDeque::new()), activity.start_request());
    assert!(send_due(&activity));
    drop(body);
    assert_eq!(
        activity.due().map(|due| due.step),
        Some(Step::CloseGracefully)
    );
}
