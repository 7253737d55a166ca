//! The request decoder on good frames of every op and on one bad frame of
//! each kind, with the code and the words of each refusal.

use super::*;

/// The op of a frame that must decode.
fn op(text: &str) -> Op {
    match parse_request(text, 3) {
        Ok(r) => r.op,
        Err(f) => panic!("{text} refused: {}", f.message),
    }
}

/// The refusal of a frame that must not decode.
fn refused(text: &str) -> Failure {
    match parse_request(text, 3) {
        Ok(r) => panic!("{text} decoded: {r:?}"),
        Err(f) => f,
    }
}

/// The frame is refused `bad_request` with a message starting `start`.
fn bad(text: &str, start: &str) {
    let f = refused(text);
    assert_eq!(f.code, ErrorCode::BadRequest, "{text}: {}", f.message);
    assert!(
        f.message.starts_with(start),
        "{text}: {:?} does not start {start:?}",
        f.message
    );
}

const TICK: &str = r#"{"type":"tick","instrument":"AAPL","price":"189.5","ts":"2026-01-02T15:00:00Z"}"#;

#[test]
fn decodes_each_op() {
    assert_eq!(
        op(r#"{"op":"auth","token":"secret"}"#),
        Op::Auth {
            token: "secret".into()
        }
    );
    assert_eq!(
        op(
            r#"{"channel":"portfolio","op":"subscribe","account":"*","min_interval_ms":250,"min_change":"0.5"}"#
        ),
        Op::Subscribe(Subscribe {
            target: Target::Portfolio(AccountSel::All),
            min_interval_ms: Some(250),
            min_change: Money::parse("0.5").ok(),
            batch: false,
            from: None,
        })
    );
    assert_eq!(
        op(r#"{"op":"subscribe","channel":"positions","account":"A1","batch":true}"#),
        Op::Subscribe(Subscribe {
            target: Target::Positions(AccountSel::One("A1".into())),
            min_interval_ms: None,
            min_change: None,
            batch: true,
            from: None,
        })
    );
    bad(
        r#"{"op":"subscribe","channel":"positions","account":"A1","batch":"yes"}"#,
        "batch must be true or false",
    );
    // Zero throttles are none; `null` is none.
    assert_eq!(
        op(
            r#"{"op":"subscribe","channel":"ticks","instrument":"AAPL","min_interval_ms":0,"min_change":"0"}"#
        ),
        op(r#"{"op":"subscribe","channel":"ticks","instrument":"AAPL","min_interval_ms":null}"#),
    );
    assert_eq!(
        op(r#"{"op":"unsubscribe","channel":"analysis"}"#),
        Op::Unsubscribe(Target::Analysis)
    );
    let Op::Submit(events) = op(&format!(r#"{{"op":"submit","events":[{TICK}, {TICK}]}}"#)) else {
        panic!("not a submit");
    };
    assert_eq!(events.len(), 2);
    assert_eq!(
        op(r#"{"op":"query","what":"eod","account":"A1","date":"2026-01-02"}"#),
        Op::Query(Query::Eod {
            accounts: AccountSel::One("A1".into()),
            date: Date::parse("2026-01-02").ok(),
        })
    );
    assert_eq!(
        op(r#"{"op":"query","what":"rebalance"}"#),
        Op::Query(Query::Proposals {
            accounts: AccountSel::All,
            date: None,
        })
    );
    assert_eq!(
        op(r#"{"op":"query","what":"analysis","job":7}"#),
        Op::Query(Query::Analysis { job: Some(7) })
    );
    assert_eq!(op(r#"{"op":"query","what":"feeds"}"#), Op::Query(Query::Feeds));
    let Op::Analyze(params) = op(r#"{"op":"analyze","id":1,"folds":3,"models":["knn"]}"#) else {
        panic!("not an analyze");
    };
    assert_eq!(
        Value::Object(params),
        serde_json::json!({"folds":3,"models":["knn"]})
    );
    assert_eq!(op(r#"{"op":"cancel","job":4}"#), Op::Cancel { job: 4 });
}

#[test]
fn reads_ids_escapes_and_whitespace() {
    let id = |text: &str| parse_request(text, 3).ok().and_then(|r| r.id);
    assert_eq!(
        id(r#"{"op":"query","what":"feeds","id":7}"#),
        Some(Value::from(7))
    );
    assert_eq!(
        id(r#"{"id":"x","op":"query","what":"feeds"}"#),
        Some(Value::from("x"))
    );
    assert_eq!(
        id(r#"{"id":-1.5,"op":"query","what":"feeds"}"#),
        Some(Value::from(-1.5))
    );
    assert_eq!(id(r#"{"id":null,"op":"query","what":"feeds"}"#), None);
    // Escaped names and op, and whitespace anywhere.
    let escaped = format!(" {{\n \"\\u006fp\" : \"\\u0073ubmit\" , \"ev\\u0065nts\" : [ \n{TICK} ] }} ");
    assert_eq!(
        op(&escaped),
        op(&format!(r#"{{"op":"submit","events":[{TICK}]}}"#))
    );
}

#[test]
fn refuses_what_is_no_json_object() {
    bad("{", "malformed JSON: ");
    bad(r#"{"op":"query"} x"#, "malformed JSON: trailing characters");
    bad("[1,2", "malformed JSON: ");
    bad("[1,2]", "a request must be a JSON object");
    bad("\"op\"", "a request must be a JSON object");
    assert_eq!(refused("{").id, None);
}

#[test]
fn refuses_a_bad_id_without_echoing_it() {
    let long = format!(
        r#"{{"op":"query","what":"feeds","id":"{}"}}"#,
        "x".repeat(MAX_ID_LEN + 1)
    );
    for text in [
        r#"{"op":"query","what":"feeds","id":{"a":1}}"#,
        r#"{"op":"query","what":"feeds","id":[1]}"#,
        r#"{"op":"query","what":"feeds","id":true}"#,
        &long,
    ] {
        bad(text, "id must be a number or a string of at most 128 bytes");
        assert_eq!(refused(text).id, None);
    }
    bad(
        r#"{"id":1,"op":"query","what":"feeds","id":2}"#,
        "duplicate field `id`",
    );
}

#[test]
fn refuses_a_missing_ill_typed_or_unknown_op_with_its_id() {
    let f = refused(r#"{"id":1}"#);
    assert_eq!(
        (f.code, f.message.as_str()),
        (ErrorCode::BadRequest, "missing field `op`")
    );
    assert_eq!(f.id, Some(Value::from(1)));
    bad(r#"{"op":7,"id":3}"#, "op must be a string");
    bad(
        r#"{"op":"auth","op":"query","token":"t"}"#,
        "duplicate field `op`",
    );
    let f = refused(&format!(r#"{{"op":"{}","id":"q"}}"#, "fly".repeat(100)));
    assert_eq!(f.code, ErrorCode::UnknownOp);
    assert_eq!(f.id, Some(Value::from("q")));
    assert!(f.message.starts_with("unknown op \"flyfly"), "{}", f.message);
    assert!(
        f.message
            .ends_with("\" (auth, subscribe, unsubscribe, submit, query, analyze, cancel)"),
        "{}",
        f.message
    );
    assert!(f.message.len() < 150, "the op is echoed cut: {}", f.message);
}

#[test]
fn refuses_an_unknown_field_of_every_op() {
    for text in [
        r#"{"op":"auth","token":"t","extra":1}"#,
        r#"{"op":"subscribe","channel":"analysis","extra":1}"#,
        r#"{"op":"unsubscribe","channel":"ticks","instrument":"I","min_interval_ms":5}"#,
        r#"{"op":"submit","events":[],"extra":1}"#,
        r#"{"op":"query","what":"positions","extra":1}"#,
        r#"{"op":"cancel","job":1,"extra":1}"#,
    ] {
        let unknown = if text.contains("min_interval_ms") {
            "min_interval_ms"
        } else {
            "extra"
        };
        bad(text, &format!("unknown field `{unknown}`"));
    }
    // A long unknown name is echoed cut.
    let f = refused(&format!(
        r#"{{"op":"query","what":"feeds","{}":1}}"#,
        "é".repeat(500)
    ));
    assert!(f.message.starts_with("unknown field `éé"), "{}", f.message);
    assert!(f.message.len() < 300, "{}", f.message);
    // A field given twice.
    bad(
        r#"{"op":"subscribe","channel":"ticks","instrument":"A","instrument":"B"}"#,
        "duplicate field `instrument`",
    );
    bad(
        r#"{"op":"analyze","folds":3,"folds":4}"#,
        "duplicate field `folds`",
    );
    // Each query kind takes only its fields.
    bad(
        r#"{"op":"query","what":"analysis","account":"A1"}"#,
        "unknown field `account`",
    );
    bad(
        r#"{"op":"query","what":"feeds","date":"2026-01-02"}"#,
        "unknown field `date`",
    );
    bad(r#"{"op":"query","what":"eod","job":null}"#, "unknown field `job`");
    bad(
        r#"{"op":"query","what":"positions","date":"2026-01-02"}"#,
        "query positions takes no `date`",
    );
}

#[test]
fn refuses_a_missing_or_ill_typed_field_by_name() {
    bad(r#"{"op":"auth"}"#, "missing field `token`");
    bad(r#"{"op":"auth","token":5}"#, "token must be a string");
    bad(r#"{"op":"subscribe","account":"A"}"#, "missing field `channel`");
    bad(
        r#"{"op":"subscribe","channel":null,"account":"A"}"#,
        "channel must be a string",
    );
    bad(
        r#"{"op":"subscribe","channel":"positions"}"#,
        "missing field `account`",
    );
    bad(
        r#"{"op":"subscribe","channel":"positions","account":["A"]}"#,
        "account must be a string",
    );
    bad(
        r#"{"op":"subscribe","channel":"ticks"}"#,
        "missing field `instrument`",
    );
    bad(
        r#"{"op":"unsubscribe","channel":"ticks","instrument":1}"#,
        "instrument must be a string",
    );
    bad(r#"{"op":"submit"}"#, "missing field `events`");
    bad(
        r#"{"op":"submit","events":"x"}"#,
        "events must be an array of event objects",
    );
    bad(r#"{"op":"query"}"#, "missing field `what`");
    bad(r#"{"op":"query","what":1}"#, "what must be a string");
    bad(
        r#"{"op":"query","what":"eod","date":20260102}"#,
        "date must be a string",
    );
    bad(
        r#"{"op":"query","what":"analysis","job":"1"}"#,
        "job must be a job id (a non-negative integer)",
    );
    bad(r#"{"op":"cancel"}"#, "missing field `job`");
    bad(r#"{"op":"cancel","job":null}"#, "missing field `job`");
    bad(
        r#"{"op":"cancel","job":-1}"#,
        "job must be a job id (a non-negative integer)",
    );
    bad(
        r#"{"op":"cancel","job":1.5}"#,
        "job must be a job id (a non-negative integer)",
    );
}

#[test]
fn refuses_a_name_over_the_limit() {
    let name = "n".repeat(MAX_NAME_LEN);
    let frame = |n: &str| format!(r#"{{"op":"subscribe","channel":"ticks","instrument":"{n}"}}"#);
    assert_eq!(
        op(&frame(&name)),
        Op::Subscribe(Subscribe {
            target: Target::Ticks(name.clone()),
            min_interval_ms: None,
            min_change: None,
            batch: false,
            from: None,
        })
    );
    bad(
        &frame(&(name.clone() + "n")),
        "instrument is longer than 256 bytes",
    );
    bad(
        &format!(r#"{{"op":"query","what":"positions","account":"{name}x"}}"#),
        "account is longer than 256 bytes",
    );
}

#[test]
fn refuses_bad_targets_and_throttles() {
    bad(
        r#"{"op":"subscribe","channel":"x","account":"A"}"#,
        "unknown channel \"x\" (positions, portfolio, books, firm, ticks, analysis, history)",
    );
    bad(
        r#"{"op":"subscribe","channel":"positions","account":"A","instrument":"I"}"#,
        "channel positions takes `account`, not `instrument`",
    );
    bad(
        r#"{"op":"unsubscribe","channel":"ticks","account":"A"}"#,
        "channel ticks takes `instrument`, not `account`",
    );
    bad(
        r#"{"op":"subscribe","channel":"analysis","instrument":"I"}"#,
        "channel analysis takes no `account` or `instrument`",
    );
    let sub = |extra: &str| format!(r#"{{"op":"subscribe","channel":"ticks","instrument":"I",{extra}}}"#);
    for ms in ["-5", "60001", "1.5"] {
        bad(
            &sub(&format!(r#""min_interval_ms":{ms}"#)),
            "min_interval_ms must be an integer from 0 to 60000",
        );
    }
    bad(
        &sub(r#""min_interval_ms":"5""#),
        "min_interval_ms must be a number",
    );
    bad(&sub(r#""min_change":"abc""#), "min_change: ");
    bad(&sub(r#""min_change":"-1""#), "min_change must be >= 0");
    bad(&sub(r#""min_change":1"#), "min_change must be a string");
}

#[test]
fn refuses_bad_query_kinds_and_dates() {
    bad(
        r#"{"op":"query","what":"nope"}"#,
        "unknown query \"nope\" (positions, portfolio, books, firm, eod, closed, proposals, analysis, feeds, history)",
    );
    bad(r#"{"op":"query","what":"eod","date":"2026-13-45"}"#, "date: ");
    bad(r#"{"op":"query","what":"closed","date":"yesterday"}"#, "date: ");
}

#[test]
fn decodes_history_queries_by_series() {
    let q = |text: &str| match op(text) {
        Op::Query(Query::History(h)) => h,
        other => panic!("{text}: {other:?}"),
    };
    let firm = q(r#"{"op":"query","what":"history","from":"2026-12-01T14:30:00Z"}"#);
    assert_eq!(firm.series, Series::Firm);
    assert_eq!(firm.from, Timestamp::parse("2026-12-01T14:30:00Z").ok());
    assert_eq!(firm.to, None);
    let account = q(r#"{"op":"query","what":"history","account":"A1"}"#);
    assert_eq!(account.series, Series::Account("A1".into()));
    let default_book = q(r#"{"op":"query","what":"history","account":"A1","strategy":null}"#);
    assert_eq!(
        default_book.series,
        Series::Book {
            account: "A1".into(),
            strategy: None
        }
    );
    let book =
        q(r#"{"op":"query","what":"history","account":"A1","strategy":"mm","to":"2026-12-02T00:00:00Z"}"#);
    assert_eq!(
        book.series,
        Series::Book {
            account: "A1".into(),
            strategy: Some("mm".into())
        }
    );
    bad(
        r#"{"op":"query","what":"history","account":"*"}"#,
        "history takes one account",
    );
    bad(
        r#"{"op":"query","what":"history","strategy":"mm"}"#,
        "strategy needs an account",
    );
    bad(r#"{"op":"query","what":"history","from":"noon"}"#, "from: ");
    bad(
        r#"{"op":"query","what":"history","strategy":7,"account":"A1"}"#,
        "strategy must be a string or null",
    );
    bad(
        r#"{"op":"query","what":"history","from":"2026-12-02T00:00:00Z","to":"2026-12-01T00:00:00Z"}"#,
        "from is after to",
    );
    bad(
        r#"{"op":"query","what":"history","date":"2026-12-01"}"#,
        "unknown field `date`",
    );
    bad(
        r#"{"op":"query","what":"eod","from":"2026-12-01T00:00:00Z"}"#,
        "unknown field `from`",
    );
}

#[test]
fn decodes_history_subscriptions_by_series() {
    let sub = |text: &str| match op(text) {
        Op::Subscribe(s) => s,
        other => panic!("{text}: {other:?}"),
    };
    let firm = sub(r#"{"op":"subscribe","channel":"history","from":"2026-12-01T14:30:00Z","batch":true}"#);
    assert_eq!(firm.target, Target::History(Series::Firm));
    assert_eq!(firm.target.channel().as_str(), "history");
    assert_eq!(firm.from, Timestamp::parse("2026-12-01T14:30:00Z").ok());
    assert!(firm.batch);
    let live = sub(r#"{"op":"subscribe","channel":"history","account":"A1","min_interval_ms":500}"#);
    assert_eq!(live.target, Target::History(Series::Account("A1".into())));
    assert_eq!((live.from, live.min_interval_ms), (None, Some(500)));
    let book = |strategy: Option<&str>| {
        Target::History(Series::Book {
            account: "A1".into(),
            strategy: strategy.map(str::to_owned),
        })
    };
    let default_book = sub(r#"{"op":"subscribe","channel":"history","account":"A1","strategy":null}"#);
    assert_eq!(default_book.target, book(None));
    // The unsubscribe names the same series; `from` is not part of it.
    assert_eq!(
        op(r#"{"op":"unsubscribe","channel":"history","account":"A1","strategy":"mm"}"#),
        Op::Unsubscribe(book(Some("mm")))
    );
    assert_eq!(
        op(r#"{"op":"unsubscribe","channel":"history"}"#),
        Op::Unsubscribe(Target::History(Series::Firm))
    );
    let h = |extra: &str| format!(r#"{{"op":"subscribe","channel":"history",{extra}}}"#);
    bad(&h(r#""account":"*""#), "history takes one account");
    bad(&h(r#""strategy":"mm""#), "strategy needs an account");
    bad(
        &h(r#""instrument":"AAPL""#),
        "channel history takes `account` and `strategy`, not `instrument`",
    );
    bad(&h(r#""from":"noon""#), "from: ");
    bad(&h(r#""from":17"#), "from must be a string");
    bad(&h(r#""min_change":"1""#), "channel history takes no `min_change`");
    bad(&h(r#""to":"2026-12-01T00:00:00Z""#), "unknown field `to`");
    bad(
        &h(r#""from":"2026-12-01T00:00:00Z","from":"2026-12-01T00:00:00Z""#),
        "duplicate field `from`",
    );
    // Other channels take neither field.
    bad(
        r#"{"op":"subscribe","channel":"portfolio","account":"A1","from":"2026-12-01T00:00:00Z"}"#,
        "channel portfolio takes no `from`",
    );
    bad(
        r#"{"op":"subscribe","channel":"books","account":"A1","strategy":"mm"}"#,
        "channel books takes no `strategy`",
    );
    bad(
        r#"{"op":"unsubscribe","channel":"firm","strategy":null}"#,
        "channel firm takes no `strategy`",
    );
    bad(
        r#"{"op":"unsubscribe","channel":"history","from":"2026-12-01T00:00:00Z"}"#,
        "unknown field `from`",
    );
}

#[test]
fn refuses_a_submit_naming_its_bad_event() {
    bad(r#"{"op":"submit","id":1,"events":[]}"#, "events is empty");
    let trade = r#"{"type":"trade","account":"A","instrument":"I","side":"buy","qty":"0","price":"1","ts":"2026-01-01T00:00:00Z"}"#;
    let f = refused(&format!(
        r#"{{"op":"submit","id":"x","events":[{TICK},{trade}]}}"#
    ));
    assert_eq!(f.id, Some(Value::from("x")));
    assert!(f.message.starts_with("line 2: qty"), "{}", f.message);
    bad(&format!(r#"{{"op":"submit","events":[{TICK},5]}}"#), "line 2: ");
    bad(r#"{"op":"submit","events":[{"type":"bogus"}]}"#, "line 1: ");
    let f = refused(&format!(
        r#"{{"op":"submit","id":9,"events":[{}]}}"#,
        [TICK; 4].join(",")
    ));
    assert_eq!(f.code, ErrorCode::TooLarge);
    assert_eq!(f.id, Some(Value::from(9)));
    assert_eq!(f.message, "4 events in one submit; at most 3 (max_submit_events)");
}

#[test]
fn peeks_the_id_of_any_json_object() {
    assert_eq!(peek_id(r#"{"op":"?","id":5,"pad":[1,2]}"#), Some(Value::from(5)));
    assert_eq!(peek_id(r#"{"id":"s"}"#), Some(Value::from("s")));
    assert_eq!(peek_id(r#"{"id":null}"#), None);
    assert_eq!(peek_id(r#"{"id":[1]}"#), None);
    assert_eq!(peek_id("{"), None);
    assert_eq!(
        peek_id(&format!(r#"{{"id":"{}"}}"#, "x".repeat(MAX_ID_LEN + 1))),
        None
    );
}

#[test]
fn error_codes_serialize_as_their_names() {
    assert!(
        ErrorCode::ALL
            .iter()
            .all(|c| serde_json::to_value(c).ok() == Some(Value::from(c.as_str())))
    );
}
