use super::*;

fn claimed(result: Result<Claim, Held>) -> Claim {
    result.unwrap_or_else(|held| panic!("expected a claim, the key is held {held:?}"))
}

#[test]
fn a_key_is_claimed_once_until_it_expires() {
    let store = MemoryStore::new(10);
    assert!(store.claim(b"k", Held::Done, 100, 200).is_ok());
    assert_eq!(store.claim(b"k", Held::Done, 150, 250), Err(Held::Done));
    assert!(
        store.claim(b"k", Held::Done, 200, 300).is_ok(),
        "expired at `until`"
    );
}

#[test]
fn in_flight_keys_complete_or_release() {
    let store = MemoryStore::new(10);
    let first = claimed(store.claim(b"evt", Held::InFlight, 0, 60));
    assert_eq!(
        store.claim(b"evt", Held::InFlight, 1, 60),
        Err(Held::InFlight)
    );
    store.release(b"evt", first);
    let second = claimed(store.claim(b"evt", Held::InFlight, 2, 60));
    store.complete(b"evt", second, 1000);
    assert_eq!(
        store.claim(b"evt", Held::InFlight, 500, 560),
        Err(Held::Done)
    );
}

#[test]
fn a_claim_taken_over_after_expiry_cannot_be_undone_by_its_first_holder() {
    let store = MemoryStore::new(10);
    let slow = claimed(store.claim(b"evt", Held::InFlight, 0, 60));
    // The clock jumps past the hold; a redelivery takes the key over.
    let fresh = claimed(store.claim(b"evt", Held::InFlight, 100, 160));
    store.release(b"evt", slow);
    assert_eq!(
        store.claim(b"evt", Held::InFlight, 101, 161),
        Err(Held::InFlight),
        "still held by the new claim"
    );
    store.complete(b"evt", slow, 10_000);
    store.complete(b"evt", fresh, 10_000);
    assert_eq!(
        store.claim(b"evt", Held::InFlight, 200, 260),
        Err(Held::Done)
    );
}

#[test]
fn a_done_mark_is_released_only_by_its_own_claim() {
    let store = MemoryStore::new(10);
    let first = claimed(store.claim(b"sig", Held::Done, 0, 300));
    store.release(b"sig", first);
    let second = claimed(store.claim(b"sig", Held::Done, 1, 300));
    store.release(b"sig", first);
    assert_eq!(
        store.claim(b"sig", Held::Done, 2, 300),
        Err(Held::Done),
        "a stale claim cannot undo the current one"
    );
    store.release(b"sig", second);
    assert!(store.claim(b"sig", Held::Done, 3, 300).is_ok());
}

#[test]
fn failed_deliveries_do_not_grow_the_eviction_queue() {
    let store = MemoryStore::new(4);
    assert!(store.claim(b"kept", Held::Done, 0, 1_000_000).is_ok());
    for now in 1..10_000 {
        let claim = claimed(store.claim(b"evt", Held::InFlight, now, now + 60));
        store.release(b"evt", claim);
        let claim = claimed(store.claim(b"same", Held::InFlight, 0, 60));
        store.release(b"same", claim);
    }
    let claim = claimed(store.claim(b"evt", Held::InFlight, 10_000, 10_060));
    store.complete(b"evt", claim, 20_000);
    let queued = store.lock().order.len();
    assert!(queued <= 8, "{queued} keys queued for 2 held");
    assert_eq!(store.len(), 2);
    assert_eq!(store.claim(b"kept", Held::Done, 10_001, 0), Err(Held::Done));
    assert_eq!(store.claim(b"evt", Held::Done, 10_001, 0), Err(Held::Done));
}

#[test]
fn capacity_evicts_the_oldest() {
    let store = MemoryStore::new(2);
    for key in [b"a", b"b", b"c"] {
        assert!(store.claim(key, Held::Done, 0, 100).is_ok());
    }
    assert_eq!(store.len(), 2);
    assert!(
        store.claim(b"a", Held::Done, 1, 100).is_ok(),
        "a was evicted"
    );
    assert_eq!(store.claim(b"c", Held::Done, 1, 100), Err(Held::Done));
}
