//! The CSV reader's contract, pinned.

use super::*;

fn read(input: &[u8], max: usize) -> Vec<Result<(u64, Vec<String>), String>> {
    let mut csv = CsvReader::new(input).with_max_line(max);
    let mut out = Vec::new();
    while let Some(r) = csv.next_record() {
        let r = r.map(|rec| (rec.line(), rec.fields().map(str::to_owned).collect::<Vec<_>>()));
        out.push(r.map_err(|e| e.to_string()));
    }
    out
}

fn ok(line: u64, fields: &[&str]) -> Result<(u64, Vec<String>), String> {
    Ok((line, fields.iter().map(|&f| f.to_owned()).collect()))
}

#[test]
fn splits_trims_and_numbers_lines() {
    let got = read(b"\xef\xbb\xbfa, b ,c\r\n\n# note\n1,,3\n  x  \n,", 100);
    assert_eq!(
        got,
        vec![
            ok(1, &["a", "b", "c"]),
            ok(4, &["1", "", "3"]),
            ok(5, &["x"]),
            ok(6, &["", ""]),
        ]
    );
}

#[test]
fn unquotes_fields() {
    let got = read(br#""a, b", "say ""hi""" ,"",c"#, 100);
    assert_eq!(got, vec![ok(1, &["a, b", "say \"hi\"", "", "c"])]);
    let got = read(b"\"open,1\n\"x\" y,2\nab\"c,3\n4\n", 100);
    assert_eq!(
        got,
        vec![
            Err("line 1: unterminated quote (a field cannot span lines)".to_owned()),
            Err("line 2: field 1: text after the closing quote".to_owned()),
            Err("line 3: field 1: a quote inside an unquoted field".to_owned()),
            ok(4, &["4"]),
        ]
    );
}

#[test]
fn reports_long_and_non_utf8_lines_and_goes_on() {
    let got = read(b"1234567890,1\n\xff,2\nok\n", 8);
    assert_eq!(
        got,
        vec![
            Err("line 1: longer than 8 bytes".to_owned()),
            Err("line 2: not valid UTF-8".to_owned()),
            ok(3, &["ok"]),
        ]
    );
}

#[test]
fn blanks_around_quotes_go_and_blanks_inside_stay() {
    let got = read(b"a , \"b, c\" ,d\n\" x \",\"\",\"\"\"\"\n\"\"\n", 100);
    assert_eq!(
        got,
        vec![
            ok(1, &["a", "b, c", "d"]),
            ok(2, &[" x ", "", "\""]),
            ok(3, &[""]),
        ]
    );
}

#[test]
fn a_quote_never_swallows_the_next_lines() {
    let got = read(b"a,\"b\n\"c\" x,d\ne,\"f\nok,1\n", 100);
    assert_eq!(
        got,
        vec![
            Err("line 1: unterminated quote (a field cannot span lines)".to_owned()),
            Err("line 2: field 1: text after the closing quote".to_owned()),
            Err("line 3: unterminated quote (a field cannot span lines)".to_owned()),
            ok(4, &["ok", "1"]),
        ]
    );
}

#[test]
fn rows_keep_their_own_width_and_bare_cr_is_data() {
    let got = read(b"a,b,c\r\nd\r\ne,f\rg,h\r\n", 100);
    assert_eq!(
        got,
        vec![ok(1, &["a", "b", "c"]), ok(2, &["d"]), ok(3, &["e", "f\rg", "h"])]
    );
}

#[test]
fn only_line_one_loses_its_byte_order_mark() {
    let got = read(b"# head\n\xef\xbb\xbfx,1\n", 100);
    assert_eq!(got, vec![ok(2, &["\u{feff}x", "1"])]);
}

#[test]
fn line_numbers_hold_over_many_lines_and_long_rows() {
    // More than the csv crate's 8 KiB buffer, rows longer than it, and
    // skipped and refused lines in between.
    let long = "y".repeat(20_000);
    let (mut input, mut want) = (Vec::new(), Vec::new());
    let mut line = 0;
    for i in 0..3_000 {
        line += 1;
        match i % 500 {
            0 => {
                input.extend_from_slice(format!("{long},{i}\n").as_bytes());
                want.push(ok(line, &[&long, &i.to_string()]));
            }
            1 => {
                input.extend_from_slice(b"\n  # skipped\n");
                line += 1;
            }
            2 => {
                input.extend_from_slice(b"\xff,bad\n");
                want.push(Err(format!("line {line}: not valid UTF-8")));
            }
            _ => {
                input.extend_from_slice(format!("r,{i}\n").as_bytes());
                want.push(ok(line, &["r", &i.to_string()]));
            }
        }
    }
    assert_eq!(read(&input, 1 << 16), want);
}

#[test]
fn an_io_error_comes_after_the_rows_before_it_and_ends_the_reader() {
    struct Failing(&'static [u8]);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let input = std::io::BufReader::new(Failing(b"a,1\n\nb,2\n"));
    let mut csv = CsvReader::new(input);
    let mut got = Vec::new();
    while let Some(r) = csv.next_record() {
        got.push(r.map(|rec| rec.line()).map_err(|e| e.to_string()));
    }
    assert_eq!(
        got,
        vec![Ok(1), Ok(3), Err("reading line 4: disk gone".to_owned())]
    );
}

proptest::proptest! {
    /// Any fields, written quoted (with blanks around the quotes) or, when
    /// they need no quotes, plain, read back as they were.
    #[test]
    fn written_fields_read_back(rows in proptest::collection::vec(
        proptest::collection::vec(("[a-z\", #\t1é]{0,6}", proptest::bool::ANY, " {0,2}"), 1..6),
        1..8,
    )) {
        let mut input = String::new();
        let mut want = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let start = input.len();
            let mut fields = Vec::new();
            for (j, (value, quote, pad)) in row.iter().enumerate() {
                if j > 0 {
                    input.push(',');
                }
                let plain = value.trim_matches([' ', '\t']);
                let needs = value.contains(['"', ',']) || plain.len() != value.len();
                if *quote || needs {
                    input += &format!("{pad}\"{}\"{pad}", value.replace('"', "\"\""));
                    fields.push(value.clone());
                } else {
                    input += &format!("{pad}{value}{pad}");
                    fields.push(plain.to_owned());
                }
            }
            let text = input[start..].trim_matches([' ', '\t']);
            let skipped = text.is_empty() || text.starts_with('#');
            input.push_str("\r\n");
            if !skipped {
                want.push(Ok((i as u64 + 1, fields)));
            }
        }
        proptest::prop_assert_eq!(read(input.as_bytes(), 1 << 16), want);
    }
}
