use super::*;

fn budget() -> Arc<BodyBudget> {
    BodyBudget::new(IntGauge::new("buffered", "test").expect("gauge"))
}

#[test]
fn reservations_stay_within_the_limit_and_return_on_drop() {
    let budget = budget();
    let first = budget.reserve(60, 100).expect("fits");
    assert!(budget.reserve(41, 100).is_none(), "over the limit");
    assert_eq!(
        budget.reserved.load(Ordering::Acquire),
        60,
        "a refused reservation takes nothing"
    );
    let second = budget.reserve(40, 100).expect("fits exactly");
    assert_eq!(budget.gauge.get(), 100);
    drop(first);
    assert_eq!(budget.reserved.load(Ordering::Acquire), 40);
    drop(second);
    assert_eq!(budget.reserved.load(Ordering::Acquire), 0);
    assert_eq!(budget.gauge.get(), 0);
}

#[test]
fn a_reservation_grows_chunk_by_chunk_until_the_budget_is_spent() {
    let budget = budget();
    let other = budget.reserve(50, 100).expect("fits");
    let mut growing = budget.reserve(0, 100).expect("nothing to reserve");
    assert!(growing.grow_to(30, 100));
    assert!(growing.grow_to(50, 100));
    assert!(growing.grow_to(40, 100), "shrinking is a no-op");
    assert_eq!(growing.bytes, 50);
    assert!(!growing.grow_to(51, 100));
    assert_eq!(growing.bytes, 50, "unchanged after a refusal");
    assert_eq!(budget.reserved.load(Ordering::Acquire), 100);
    assert!(
        !growing.grow_to(usize::MAX, usize::MAX),
        "an overflow is a refusal"
    );
    drop(other);
    assert!(growing.grow_to(100, 100));
    drop(growing);
    assert_eq!(budget.reserved.load(Ordering::Acquire), 0);
}

#[test]
fn held_bytes_keep_the_reservation_until_the_last_clone_is_dropped() {
    let budget = budget();
    let reservation = budget.reserve(5, 10).expect("fits");
    let bytes = reservation.hold(BytesMut::from(&b"hello"[..]));
    let clone = bytes.slice(1..3);
    drop(bytes);
    assert_eq!(budget.reserved.load(Ordering::Acquire), 5);
    assert_eq!(&clone[..], b"el");
    drop(clone);
    assert_eq!(budget.reserved.load(Ordering::Acquire), 0);
}
