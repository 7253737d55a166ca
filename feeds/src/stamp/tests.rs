//! The accepted shapes and the refusals, pinned.

use super::*;

fn at(s: &str) -> String {
    match parse(s, 0) {
        Ok(Stamp::At(t)) => t.to_string(),
        Ok(Stamp::Day(d)) => format!("day {d}"),
        Err(e) => format!("error {e}"),
    }
}

#[test]
fn reads_every_shape_of_the_real_files() {
    assert_eq!(at("2013-01-01 22:00:00.295000+00:00"), "2013-01-01T22:00:00.295Z");
    assert_eq!(at("20200101 170000065"), "2020-01-01T17:00:00.065Z");
    assert_eq!(at("2012-02-01 00:01:00+00:00"), "2012-02-01T00:01:00Z");
    assert_eq!(at("2021-12-31 23:01:00.000000"), "2021-12-31T23:01:00Z");
    assert_eq!(at("2000-01-03"), "day 10959");
    assert_eq!(at("Jan 1 2000"), "day 10957");
    assert_eq!(at("Sept 30, 2004"), at("2004-09-30"));
    assert_eq!(at("December 31 1999"), "day 10956");
}

#[test]
fn reads_rfc3339_with_offsets() {
    assert_eq!(at("2026-11-30T14:30:00Z"), "2026-11-30T14:30:00Z");
    assert_eq!(
        at("2026-11-30T15:30:00.123456789+01:00"),
        "2026-11-30T14:30:00.123456789Z"
    );
    assert_eq!(at("2026-11-30T09:30-0500"), "2026-11-30T14:30:00Z");
    assert_eq!(at("1969-12-31T23:59:59.5Z"), "1969-12-31T23:59:59.5Z");
}

#[test]
fn naive_times_use_the_given_offset_and_days_the_close() {
    let est = parse("20200101 170000065", -5 * 3600);
    assert_eq!(
        est.map(|s| s.at_close().map(|t| t.to_string())),
        Ok(Ok("2020-01-01T22:00:00.065Z".into()))
    );
    let day = parse("2020-01-02", -5 * 3600).and_then(Stamp::at_close);
    assert_eq!(day.map(|t| t.to_string()), Ok("2020-01-02T21:00:00Z".into()));
}

#[test]
fn reads_what_jiff_reads_with_an_offset_and_month_names_in_any_length() {
    assert_eq!(at("2026-11-30T14Z"), "2026-11-30T14:00:00Z");
    assert_eq!(at("2026-11-30T14:30:00+05:30:15"), "2026-11-30T08:59:45Z");
    assert_eq!(at("2026-11-30T14:30:00Z[UTC]"), "2026-11-30T14:30:00Z");
    assert_eq!(at("+002026-11-30T14:30:00Z"), "2026-11-30T14:30:00Z");
    assert_eq!(at("2026-11-30t14:30:00,5z"), "2026-11-30T14:30:00.5Z");
    assert_eq!(at("20200101T170000065-0100"), "2020-01-01T18:00:00.065Z");
    assert_eq!(at("20200101 170000123456789"), "2020-01-01T17:00:00.123456789Z");
    for s in [
        "Nov 30 2026",
        "nov 30, 2026",
        "Novem 30 2026",
        "NOVEMBER  30 ,2026",
    ] {
        assert_eq!(at(s), at("2026-11-30"), "{s}");
    }
    assert_eq!(at("Feb 29 2024"), at("2024-02-29"));
    assert_eq!(at("9999-12-31"), "day 2932896");
    assert_eq!(at("0001-01-01"), "day -719162");
}

#[test]
fn stays_stricter_than_iso_8601() {
    for s in [
        "2026-11-30T14",
        "2026-11-30 1430",
        "20261130 14:30:00",
        "20261130 143000.5",
        "2026-11-30 14:30[America/New_York]",
        "2026-11-30[UTC]",
        "+002026-11-30",
        "Nov 30 26",
        "Novembre 30 2026",
        "No 30 2026",
        "2026-11-30 14:30:00 +01:00",
    ] {
        assert!(at(s).contains("is not a timestamp"), "{s:?} gave {}", at(s));
    }
    for s in ["2026-11-30 23:59:60", "2026-11-30T23:59:60Z", "20261130 235960"] {
        assert_eq!(at(s), format!("error {s:?} is not a valid time of day"));
    }
    assert_eq!(
        at("2026-02-29 UTC"),
        "error \"2026-02-29 UTC\" is not a valid date"
    );
    assert_eq!(at("Feb 29 2026"), "error \"Feb 29 2026\" is not a valid date");
}

#[test]
fn refuses_nonsense_with_a_clear_reason() {
    for s in [
        "2026-02-30",
        "2026-13-01",
        "2026-11-30 24:00:00",
        "2026-11-30 12:61",
        "Foo 1 2000",
        "yesterday",
        "",
        "2026-11-30T12:00:00.1234567891Z",
        "2026-11-30 12:00:00 UTC",
        "20261130 1200",
        "Jan 32 2000",
    ] {
        assert!(at(s).starts_with("error "), "{s:?} gave {}", at(s));
    }
    assert!(at("2026-02-30").contains("not a valid date"));
    assert!(at("2026-11-30 25:00:00").contains("not a valid time"));
    let far = parse("9999-01-01", 0).and_then(Stamp::at_close);
    assert_eq!(far, Err("timestamp is outside 1677-2262".to_owned()));
}
