//! Arbitrary bytes through the ingestion decoder and validator, in both framings: every input
//! gets an answer (no panic, no hang), and whatever is accepted survives the wire format
//! unchanged, so a stored event reads back as it was sent.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use ops_ingest::{check_body, validate_event, Framing};

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    for framing in [Framing::Json, Framing::Ndjson] {
        if let Ok(events) = check_body(framing, data, now) {
            assert!(!events.is_empty());
            for event in events {
                let wire = serde_json::to_value(&event).unwrap();
                assert_eq!(validate_event(0, wire, now).unwrap(), event);
            }
        }
    }
});
