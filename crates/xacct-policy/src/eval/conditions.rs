//! Condition operators: typed value parsers (numbers, dates, base64, IP) and condition evaluation.

use super::document::{BaseOp, Condition, SetOp};
use super::matching::{arn_match, expand, toks_to_string, wild_match, Context, Tok};
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------------
// Typed value parsers (numbers, dates, base64, IP)
// ---------------------------------------------------------------------------------------------

pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

pub(crate) fn take_digits(b: &[u8], pos: &mut usize, n: usize) -> Option<i64> {
    if *pos + n > b.len() || !b[*pos..*pos + n].iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = std::str::from_utf8(&b[*pos..*pos + n]).ok()?.parse().ok()?;
    *pos += n;
    Some(v)
}

/// Seconds since the epoch for an ISO 8601 date/time (`2024-01-31`, `2024-01-31T12:00:00Z`,
/// `2024-01-31T12:00:00.5+09:00`, `20240131T120000Z`) or an epoch-seconds number.
pub(crate) fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && !s[1..].contains('-')
    {
        // Epoch seconds (a date always has '-' after the year, or is 8 digits followed by 'T').
        return parse_number(s);
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let year = take_digits(b, &mut pos, 4)?;
    let basic = b.get(pos) != Some(&b'-');
    if !basic {
        pos += 1;
    }
    let month = take_digits(b, &mut pos, 2)?;
    if !basic {
        if b.get(pos) != Some(&b'-') {
            return None;
        }
        pos += 1;
    }
    let day = take_digits(b, &mut pos, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) as f64 * 86_400.0;
    if pos == b.len() {
        return Some(secs);
    }
    if b[pos] != b'T' && b[pos] != b't' && b[pos] != b' ' {
        return None;
    }
    pos += 1;
    let hour = take_digits(b, &mut pos, 2)?;
    if !basic && b.get(pos) == Some(&b':') {
        pos += 1;
    }
    let minute = take_digits(b, &mut pos, 2)?;
    let mut second = 0;
    if pos < b.len() && (b[pos].is_ascii_digit() || b[pos] == b':') {
        if b[pos] == b':' {
            pos += 1;
        }
        second = take_digits(b, &mut pos, 2)?;
    }
    if hour > 24 || minute > 59 || second > 60 || (hour == 24 && (minute > 0 || second > 0)) {
        return None;
    }
    let mut frac = 0.0;
    if pos < b.len() && (b[pos] == b'.' || b[pos] == b',') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        frac = format!("0.{}", &s[start..pos]).parse().ok()?;
    }
    secs += (hour * 3600 + minute * 60 + second) as f64 + frac;
    if pos == b.len() {
        return Some(secs);
    }
    match b[pos] {
        b'Z' | b'z' if pos + 1 == b.len() => Some(secs),
        sign @ (b'+' | b'-') => {
            pos += 1;
            let oh = take_digits(b, &mut pos, 2)?;
            if b.get(pos) == Some(&b':') {
                pos += 1;
            }
            let om = if pos < b.len() {
                take_digits(b, &mut pos, 2)?
            } else {
                0
            };
            if pos != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) as f64;
            Some(if sign == b'+' { secs - off } else { secs + off })
        }
        _ => None,
    }
}

pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let mut padding = 0;
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    if padding > 2 || bits >= 6 {
        return None;
    }
    Some(out)
}

pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            let n: u8 = p.parse().ok()?;
            if n > max {
                return None;
            }
            n
        }
        None => max,
    };
    Some((ip, prefix))
}

pub(crate) fn ip_in(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Condition evaluation
// ---------------------------------------------------------------------------------------------

/// Positive comparison of one request value against one (expanded) policy value.
pub(crate) fn base_match(op: BaseOp, ctx_value: &str, pol: &[Tok]) -> bool {
    use BaseOp::*;
    let text = || toks_to_string(pol);
    match op {
        StringEquals | StringNotEquals => ctx_value == text(),
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            ctx_value.to_lowercase() == text().to_lowercase()
        }
        StringLike | StringNotLike => {
            let chars: Vec<char> = ctx_value.chars().collect();
            wild_match(pol, &chars, false)
        }
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => match (parse_number(ctx_value), parse_number(&text())) {
            (Some(c), Some(p)) => compare(op, c, p),
            _ => false,
        },
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => match (parse_date(ctx_value), parse_date(&text())) {
            (Some(c), Some(p)) => compare(op, c, p),
            _ => false,
        },
        Bool => ctx_value.eq_ignore_ascii_case(&text()),
        BinaryEquals => match (base64_decode(ctx_value), base64_decode(&text())) {
            (Some(c), Some(p)) => c == p,
            _ => false,
        },
        IpAddress | NotIpAddress => {
            match (ctx_value.trim().parse::<IpAddr>(), parse_cidr(&text())) {
                (Ok(ip), Some((net, prefix))) => ip_in(ip, net, prefix),
                _ => false,
            }
        }
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_match(pol, ctx_value),
        Null => false,
    }
}

pub(crate) fn compare(op: BaseOp, c: f64, p: f64) -> bool {
    use BaseOp::*;
    match op {
        NumericEquals | NumericNotEquals | DateEquals | DateNotEquals => c == p,
        NumericLessThan | DateLessThan => c < p,
        NumericLessThanEquals | DateLessThanEquals => c <= p,
        NumericGreaterThan | DateGreaterThan => c > p,
        NumericGreaterThanEquals | DateGreaterThanEquals => c >= p,
        _ => false,
    }
}

pub(crate) fn condition_holds(cond: &Condition, vars: bool, ctx: &Context) -> bool {
    // a policy value of the wrong type for the operator: the condition never holds
    if cond.type_mismatch().is_some() {
        return false;
    }
    let op = cond.operator;
    let present = ctx.get(&cond.key);
    if op.base == BaseOp::Null {
        // "Null": {"key": "true"} holds when the key is absent; "false" when it is present.
        // Several values are ORed.
        return cond
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("true") == present.is_none());
    }
    let Some(ctx_values) = present else {
        if op.if_exists {
            return true;
        }
        return match op.set {
            Some(SetOp::ForAllValues) => true,
            Some(SetOp::ForAnyValue) => false,
            None => op.base.is_negated(),
        };
    };
    let use_vars = vars && op.base.takes_variables();
    // Unresolvable values (variable with no value) are "effectively null": they match nothing.
    let policy_values: Vec<Vec<Tok>> = cond
        .values
        .iter()
        .filter_map(|v| {
            if op.base.takes_variables() {
                expand(v, use_vars, ctx)
            } else {
                Some(v.chars().map(Tok::Lit).collect())
            }
        })
        .collect();
    let negated = op.base.is_negated();
    // One request value against all policy values: OR for positive operators, NOR for negated.
    let single = |cv: &String| {
        let any = policy_values.iter().any(|p| base_match(op.base, cv, p));
        if negated {
            !any
        } else {
            any
        }
    };
    match op.set {
        Some(SetOp::ForAllValues) => ctx_values.iter().all(single),
        Some(SetOp::ForAnyValue) => ctx_values.iter().any(single),
        // DECISION: a plain operator given a list in the request context behaves as if the key
        // were single-valued with any of those values: a positive operator holds if any request
        // value matches any policy value; a negated operator holds only if no request value
        // matches any policy value.
        None => {
            if negated {
                ctx_values.iter().all(single)
            } else {
                ctx_values.iter().any(single)
            }
        }
    }
}
