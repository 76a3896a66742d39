//! What the shared JSON body parsing ([`super::extract::parse_json`]) adds to
//! serde_json, so that every request body of every route follows the same two rules:
//!
//! - **Whole-number floats are integers.** JSON Schema's `integer` (and so the OpenAPI
//!   document) allows `5869.0` and `1.5e3`; serde refuses them for integer fields.
//!   [`whole_numbers`] rewrites every number whose value is a whole number into integer
//!   form before serde sees the body, so `"timeout_secs": 60.0` is 60 in every body,
//!   while `60.5` is still refused (400 naming the field).
//! - **A missing field is named.** [`field_at`] turns serde's "missing field `x`" at
//!   path `p` into the field `p.x`.

use std::borrow::Cow;

/// More digits than any integer a body may hold (`u64::MAX` has 20): such a number is
/// left as it is, and serde refuses it as it would have.
const MAX_INTEGER_DIGITS: usize = 20;

/// `json` with every number that has a fraction or an exponent but a whole value
/// (`5869.0`, `1.5e3`, `-2.00`) written as an integer (`5869`, `1500`, `-2`). Strings
/// are left alone, as is any number that is not whole, too large, or not valid JSON
/// (serde reports those). Borrows when nothing changes, which is the common case.
pub fn whole_numbers(json: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => i = string_end(json, i),
            b'-' | b'0'..=b'9' => {
                let end = number_end(json, i);
                if let Some(integer) = whole_integer(&json[i..end]) {
                    let out = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                    out.extend_from_slice(&json[copied..i]);
                    out.extend_from_slice(integer.as_bytes());
                    copied = end;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut out) => {
            out.extend_from_slice(&json[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The index after the string that opens at `start` (or the end of the input).
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    json.len()
}

/// The index after the run of number characters that starts at `start`.
fn number_end(json: &[u8], start: usize) -> usize {
    let len = json[start..]
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .count();
    start + len
}

/// The integer text of a JSON number token with a fraction or an exponent whose value
/// is whole; `None` for anything else (integers already, fractions, bad tokens).
fn whole_integer(token: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(token).ok()?;
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int_part, fraction) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if fraction.is_none() && exponent.is_none() {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let valid_int = all_digits(int_part) && (int_part == "0" || !int_part.starts_with('0'));
    if !valid_int || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            // Seven digits shift far past any integer a body may hold.
            if !all_digits(digits) || digits.len() > 7 {
                return None;
            }
            e.parse().ok()?
        }
    };
    let digits = format!("{int_part}{}", fraction.unwrap_or(""));
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Some("0".to_owned());
    }
    // Where the decimal point falls within `significant`.
    let point = int_part.len() as i64 - (digits.len() - significant.len()) as i64 + exponent;
    if point <= 0 || point > MAX_INTEGER_DIGITS as i64 {
        return None;
    }
    let point = point as usize;
    let integer = if point >= significant.len() {
        format!("{significant}{}", "0".repeat(point - significant.len()))
    } else {
        let (whole, rest) = significant.split_at(point);
        if rest.bytes().any(|b| b != b'0') {
            return None;
        }
        whole.to_owned()
    };
    Some(if negative {
        format!("-{integer}")
    } else {
        integer
    })
}

/// The field a parse error names: the path serde was at, or, for a missing field,
/// that field under the path (`steps[0].delay_secs`). `None` at the top level.
///
/// serde reports a missing field only through `de::Error::missing_field`, whose
/// message it fixes as "missing field `x`" (serde_json keeps it and appends the
/// location); the field's name exists nowhere else, so it is read from there. A unit
/// test pins the wording.
pub fn field_at(path: &str, detail: &str) -> Option<String> {
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        (".", Some(name)) => Some(name.to_owned()),
        (_, Some(name)) => Some(format!("{path}.{name}")),
        (".", None) => None,
        (_, None) => Some(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn rewritten(json: &str) -> String {
        String::from_utf8(whole_numbers(json.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn whole_number_floats_become_integers_and_nothing_else_changes() {
        let cases = [
            ("5869.0", "5869"),
            ("-3.00", "-3"),
            ("0.0", "0"),
            ("-0.0", "0"),
            ("1e2", "100"),
            ("1.5E3", "1500"),
            ("100e-2", "1"),
            ("0.5e1", "5"),
            ("12.000e+1", "120"),
            ("18446744073709551615.0", "18446744073709551615"),
        ];
        for (number, integer) in cases {
            assert_eq!(rewritten(number), integer, "{number}");
        }
        for unchanged in [
            "12",
            "-7",
            "5869.5",
            "1e-1",
            "0.25e1",
            "1e400",
            "1e99999999",
            "123456789012345678901.0",
            "01.0",
            "1.e2",
            "-",
        ] {
            assert_eq!(rewritten(unchanged), unchanged, "{unchanged}");
        }
    }

    #[test]
    fn numbers_inside_strings_are_left_alone() {
        let body = r#"{"a":"5.0","b\"5.0":[1.0,"x\\",2.50],"c":3e0}"#;
        assert_eq!(
            rewritten(body),
            r#"{"a":"5.0","b\"5.0":[1,"x\\",2.50],"c":3}"#
        );
        assert!(matches!(
            whole_numbers(br#"{"summary":"v1.0 is out"}"#),
            Cow::Borrowed(_)
        ));
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Step {
        delay_secs: u32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Policy {
        id: String,
        steps: Vec<Step>,
    }

    fn error_field(json: &str) -> Option<String> {
        let mut de = serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Policy>(&mut de).unwrap_err();
        let path = err.path().to_string();
        field_at(&path, &err.into_inner().to_string())
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        assert_eq!(error_field(r#"{"steps":[]}"#).as_deref(), Some("id"));
        assert_eq!(
            error_field(r#"{"id":"p","steps":[{}]}"#).as_deref(),
            Some("steps[0].delay_secs")
        );
        assert_eq!(
            error_field(r#"{"id":"p","steps":[{"delay_secs":"x"}]}"#).as_deref(),
            Some("steps[0].delay_secs")
        );
        assert_eq!(error_field("[]"), None);
    }
}
