//! Exact money (RULES.md §1): integer minor units with an ISO 4217 currency, rates in basis
//! points, products computed in i128 and rounded once, half to even.

use crate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses a code that ISO 4217 lists, written in capitals.
    pub fn parse(code: &str, field: &str) -> Result<Self, FieldError> {
        let bytes = code.trim().as_bytes();
        match bytes {
            [a, b, c] if ISO_4217.binary_search(&[*a, *b, *c]).is_ok() => Ok(Currency([*a, *b, *c])),
            [_, _, _] if bytes.iter().all(u8::is_ascii_uppercase) => Err(FieldError::new(
                field,
                format!("`{code}` is not a currency that ISO 4217 lists; check the code (USD, EUR, JPY…)"),
            )),
            _ => Err(FieldError::new(
                field,
                format!("`{code}` is not an ISO 4217 currency code such as USD"),
            )),
        }
    }

    /// The code.
    pub fn code(&self) -> &str {
        // Always three ASCII letters: built only by `parse` or the constants.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point, as ISO 4217 gives them: 0 for JPY, KRW and the other
    /// currencies without a minor unit, 3 for BHD, KWD, OMR, JOD, TND, LYD and IQD, 4 for the
    /// units of account CLF and UYW, 2 otherwise.
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI"
            | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

/// The codes ISO 4217 lists, sorted: the current ones (funds, precious metals and the testing
/// and "no currency" codes among them), and those withdrawn since 2023 (ANG, CUC, HRK, SLL, ZWL)
/// that older sales files still carry.
const ISO_4217: [[u8; 3]; 183] = [
    *b"AED", *b"AFN", *b"ALL", *b"AMD", *b"ANG", *b"AOA", *b"ARS", *b"AUD", *b"AWG", *b"AZN", *b"BAM",
    *b"BBD", *b"BDT", *b"BGN", *b"BHD", *b"BIF", *b"BMD", *b"BND", *b"BOB", *b"BOV", *b"BRL", *b"BSD",
    *b"BTN", *b"BWP", *b"BYN", *b"BZD", *b"CAD", *b"CDF", *b"CHE", *b"CHF", *b"CHW", *b"CLF", *b"CLP",
    *b"CNY", *b"COP", *b"COU", *b"CRC", *b"CUC", *b"CUP", *b"CVE", *b"CZK", *b"DJF", *b"DKK", *b"DOP",
    *b"DZD", *b"EGP", *b"ERN", *b"ETB", *b"EUR", *b"FJD", *b"FKP", *b"GBP", *b"GEL", *b"GHS", *b"GIP",
    *b"GMD", *b"GNF", *b"GTQ", *b"GYD", *b"HKD", *b"HNL", *b"HRK", *b"HTG", *b"HUF", *b"IDR", *b"ILS",
    *b"INR", *b"IQD", *b"IRR", *b"ISK", *b"JMD", *b"JOD", *b"JPY", *b"KES", *b"KGS", *b"KHR", *b"KMF",
    *b"KPW", *b"KRW", *b"KWD", *b"KYD", *b"KZT", *b"LAK", *b"LBP", *b"LKR", *b"LRD", *b"LSL", *b"LYD",
    *b"MAD", *b"MDL", *b"MGA", *b"MKD", *b"MMK", *b"MNT", *b"MOP", *b"MRU", *b"MUR", *b"MVR", *b"MWK",
    *b"MXN", *b"MXV", *b"MYR", *b"MZN", *b"NAD", *b"NGN", *b"NIO", *b"NOK", *b"NPR", *b"NZD", *b"OMR",
    *b"PAB", *b"PEN", *b"PGK", *b"PHP", *b"PKR", *b"PLN", *b"PYG", *b"QAR", *b"RON", *b"RSD", *b"RUB",
    *b"RWF", *b"SAR", *b"SBD", *b"SCR", *b"SDG", *b"SEK", *b"SGD", *b"SHP", *b"SLE", *b"SLL", *b"SOS",
    *b"SRD", *b"SSP", *b"STN", *b"SVC", *b"SYP", *b"SZL", *b"THB", *b"TJS", *b"TMT", *b"TND", *b"TOP",
    *b"TRY", *b"TTD", *b"TWD", *b"TZS", *b"UAH", *b"UGX", *b"USD", *b"USN", *b"UYI", *b"UYU", *b"UYW",
    *b"UZS", *b"VED", *b"VES", *b"VND", *b"VUV", *b"WST", *b"XAF", *b"XAG", *b"XAU", *b"XBA", *b"XBB",
    *b"XBC", *b"XBD", *b"XCD", *b"XCG", *b"XDR", *b"XOF", *b"XPD", *b"XPF", *b"XPT", *b"XSU", *b"XTS",
    *b"XUA", *b"XXX", *b"YER", *b"ZAR", *b"ZMW", *b"ZWG", *b"ZWL",
];

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code, "currency").map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// An amount of money: minor units (cents for USD) in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units; negative for returns and credits.
    pub minor: i64,
    /// Currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in minor units.
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a decimal amount such as `-1,234.50` exactly; more decimals than the currency has
    /// are an error, never silently rounded.
    pub fn parse(text: &str, currency: Currency, field: &str) -> Result<Self, FieldError> {
        parse_minor(text, currency.minor_digits(), field).map(|minor| Money { minor, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.minor, self.currency.minor_digits()))
    }
}

/// Parses a decimal string into minor units with `digits` decimals. Thousands separators (`,`
/// or `_`, one kind per amount) are allowed only between groups of three digits, so that a
/// decimal comma such as `12,34` is refused rather than read as 1,234.
pub fn parse_minor(text: &str, digits: u32, field: &str) -> Result<i64, FieldError> {
    let bad = || FieldError::new(field, format!("`{text}` is not an amount such as 1234.56"));
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let (grouped, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let whole = ungroup(grouped).ok_or_else(bad)?;
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // Zeros past the currency's decimals change nothing (ERP exports write `1234.5000`, or
    // `100.00` in yen); any other digit there would be a fraction of a minor unit.
    let fraction = match fraction.split_at_checked(digits as usize) {
        Some((kept, rest)) if rest.bytes().all(|b| b == b'0') => kept,
        Some(_) => {
            return Err(FieldError::new(
                field,
                format!("`{text}` has more than {digits} decimals"),
            ))
        }
        None => fraction,
    };
    let scale = 10i128.pow(digits);
    let whole = decimal_digits(&whole).ok_or_else(bad)?;
    let fraction_value =
        decimal_digits(fraction).ok_or_else(bad)? * 10i128.pow(digits - fraction.len() as u32);
    let magnitude = whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_value))
        .ok_or_else(bad)?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| FieldError::new(field, format!("`{text}` is too large")))
}

/// The value of a run of ASCII digits (0 for none), or `None` past `i128`: called once per
/// sale row, a loop the compiler keeps tight where `str::parse` checks signs and radixes.
fn decimal_digits(digits: &str) -> Option<i128> {
    digits.bytes().try_fold(0i128, |value, b| {
        value.checked_mul(10)?.checked_add(i128::from(b - b'0'))
    })
}

/// The digits of a whole part written with or without thousands separators: `1,234,567` and
/// `1_234` are fine, `12,34`, `1,2345` and `1,234_567` are not (`None`). Nor is `0,123`: no
/// grouping starts with a zero, so that is a decimal comma, which would read 1,000 times too large.
fn ungroup(whole: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(separator) = whole.chars().find(|c| matches!(c, ',' | '_')) else {
        return Some(whole.into());
    };
    let mut groups = whole.split(separator);
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let well_formed = (1..=3).contains(&first.len())
        && !first.starts_with('0')
        && rest.iter().all(|g| g.len() == 3)
        && !whole.contains(if separator == ',' { '_' } else { ',' });
    well_formed.then(|| whole.replace(separator, "").into())
}

/// Formats minor units with thousands separators: `1234567` with 2 digits → `12,345.67`.
pub fn format_minor(minor: i64, digits: u32) -> String {
    format_with(minor, digits, Some(','))
}

/// Formats minor units as a plain number for files other programs read (CSV exports):
/// `1234567` with 2 digits → `12345.67`, without separators a spreadsheet could take as text.
pub fn format_minor_plain(minor: i64, digits: u32) -> String {
    format_with(minor, digits, None)
}

fn format_with(minor: i64, digits: u32, thousands: Option<char>) -> String {
    let negative = minor < 0;
    let magnitude = minor.unsigned_abs();
    let scale = 10u64.pow(digits);
    let whole = (magnitude / scale).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if let Some(separator) = thousands.filter(|_| i > 0 && (whole.len() - i).is_multiple_of(3)) {
            grouped.push(separator);
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{grouped}")
    } else {
        format!(
            "{sign}{grouped}.{:0width$}",
            magnitude % scale,
            width = digits as usize
        )
    }
}

/// Divides and rounds half to even (banker's rounding), exactly.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    let quotient = numerator.div_euclid(denominator);
    let remainder = numerator.rem_euclid(denominator);
    match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient & 1),
    }
}

/// `amount × rate × multiplier`, with rate and multiplier in basis points (10000 = 1×),
/// rounded once to the minor unit, half to even. Saturates at the i64 range.
pub fn apply_rate(amount_minor: i64, rate_bps: i64, multiplier_bps: i64) -> i64 {
    let exact = i128::from(amount_minor) * i128::from(rate_bps) * i128::from(multiplier_bps);
    let rounded = div_round_half_even(exact, 100_000_000);
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_1_rounding_example_half_to_even() {
        // 1,234.25 × 2 % = 24.685 → 24.68
        assert_eq!(apply_rate(123_425, 200, 10_000), 2_468);
        // 12,345.67 × 2 % = 246.9134 → 246.91
        assert_eq!(apply_rate(1_234_567, 200, 10_000), 24_691);
    }

    #[test]
    fn half_to_even_both_ways_and_negative() {
        assert_eq!(div_round_half_even(5, 2), 2);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(-5, 2), -2);
        assert_eq!(div_round_half_even(-7, 2), -4);
        assert_eq!(div_round_half_even(-6, 4), -2);
        assert_eq!(div_round_half_even(1, 3), 0);
        assert_eq!(div_round_half_even(2, 3), 1);
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_minor("12,345.67", 2, "amount").unwrap(), 1_234_567);
        assert_eq!(parse_minor("1,234,567", 0, "amount").unwrap(), 1_234_567);
        assert_eq!(parse_minor("-1_000.5", 2, "amount").unwrap(), -100_050);
        // A decimal comma, or separators anywhere but between thousands, is refused.
        for bad in [
            "12,34",
            "1,5",
            "1,2,3",
            ",100",
            "1,2345",
            "1,234_567",
            "1,234.5,6",
            "1__000",
            "0,123",
            "00,500",
            "-0,500",
            "0_125",
        ] {
            assert!(parse_minor(bad, 2, "amount").is_err(), "{bad}");
        }
        assert!(
            parse_minor("0,125", 3, "amount").is_err(),
            "a decimal comma in KWD"
        );
        assert_eq!(parse_minor("-5000", 2, "amount").unwrap(), -500_000);
        assert_eq!(parse_minor("0.5", 2, "amount").unwrap(), 50);
        assert_eq!(parse_minor(".05", 2, "amount").unwrap(), 5);
        assert_eq!(parse_minor("100", 0, "amount").unwrap(), 100);
        // Zeros past the currency's decimals are no fraction of a cent.
        assert_eq!(parse_minor("1234.5000", 2, "amount").unwrap(), 123_450);
        assert_eq!(parse_minor("-0.100", 2, "amount").unwrap(), -10);
        assert_eq!(parse_minor("100.00", 0, "amount").unwrap(), 100);
        assert_eq!(parse_minor(".000", 2, "amount").unwrap(), 0);
        for bad in ["", "abc", "1.234", "1.2301", "1e5", "--1", "1.2.3", "twelve", "."] {
            assert!(parse_minor(bad, 2, "row 3.amount").is_err(), "{bad}");
        }
        assert_eq!(
            parse_minor("x", 2, "row 3.amount").unwrap_err().field,
            "row 3.amount"
        );
    }

    #[test]
    fn amounts_format_with_separators() {
        assert_eq!(format_minor(1_234_567, 2), "12,345.67");
        assert_eq!(format_minor(-500, 2), "-5.00");
        assert_eq!(format_minor(5, 2), "0.05");
        assert_eq!(format_minor(1_000_000, 0), "1,000,000");
        assert_eq!(format_minor_plain(-123_456_789, 2), "-1234567.89");
        assert_eq!(format_minor_plain(1_000_000, 0), "1000000");
        assert_eq!(format_minor_plain(i64::MIN, 3), "-9223372036854775.808");
        assert_eq!(
            Money::parse("262,500.00", Currency::USD, "x")
                .unwrap()
                .to_string(),
            "262,500.00"
        );
    }

    #[test]
    fn currencies_are_codes_iso_4217_lists() {
        assert_eq!(Currency::parse("EUR", "c").unwrap().code(), "EUR");
        assert_eq!(Currency::parse(" ZWG ", "c").unwrap().code(), "ZWG");
        assert!(Currency::parse("eur", "c").is_err());
        assert!(Currency::parse("EURO", "c").is_err());
        let refused = Currency::parse("ABC", "currency").unwrap_err();
        assert_eq!(refused.field, "currency");
        assert!(
            refused
                .message
                .contains("`ABC` is not a currency that ISO 4217 lists"),
            "{}",
            refused.message
        );
        assert!(
            ISO_4217.windows(2).all(|pair| pair[0] < pair[1]),
            "the table is searched by halves"
        );
        assert_eq!(Currency::parse("JPY", "c").unwrap().minor_digits(), 0);
        let digits = |code| Currency::parse(code, "c").unwrap().minor_digits();
        assert_eq!([digits("XPF"), digits("PYG"), digits("RWF")], [0, 0, 0]);
        assert_eq!([digits("KWD"), digits("CLF"), digits("USD")], [3, 4, 2]);
        // A franc without a minor unit takes no decimals.
        assert!(Money::parse("1234.56", Currency::parse("XPF", "c").unwrap(), "amount").is_err());
    }
}
