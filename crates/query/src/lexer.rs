//! Tokens of the IoT Hub query language, shared by device queries and routing conditions.
//!
//! Names start with a letter, `_` or `$` and go on with letters, digits, `_`, `$` and `-` (so
//! `$dt-subject` is one name, and subtraction needs spaces: `a - 1`). Strings are single- or
//! double-quoted with JSON-style escapes. Numbers are decimal (with fraction and exponent) or
//! hexadecimal (`0x1F`). Keywords are names, recognised case-insensitively by the parser.

use crate::error::{QueryError, QueryErrorKind};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Star,
    Plus,
    Minus,
    Slash,
    Percent,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset of the token's first character.
    pub(crate) start: usize,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("'{n}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Eof => "end of input".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Dot => "'.'".into(),
            Tok::Star => "'*'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Percent => "'%'".into(),
            Tok::Eq => "'='".into(),
            Tok::Ne => "'!='".into(),
            Tok::Lt => "'<'".into(),
            Tok::Gt => "'>'".into(),
            Tok::Le => "'<='".into(),
            Tok::Ge => "'>='".into(),
        }
    }
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let simple = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b',' => Some(Tok::Comma),
            b'.' => Some(Tok::Dot),
            b'*' => Some(Tok::Star),
            b'+' => Some(Tok::Plus),
            b'-' => Some(Tok::Minus),
            b'/' => Some(Tok::Slash),
            b'%' => Some(Tok::Percent),
            b'=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token { tok, start });
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            (b'!', Some(b'=')) => (Tok::Ne, 2),
            (b'<', Some(b'>')) => (Tok::Ne, 2),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'\'' | b'"', _) => {
                let (s, len) = string(text, i)?;
                (Tok::Str(s), len)
            }
            (b'0'..=b'9', _) => {
                let (n, len) = number(text, i)?;
                (Tok::Num(n), len)
            }
            (c, _) if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let len = bytes[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-'))
                    .count();
                (Tok::Name(text[i..i + len].to_owned()), len)
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                return Err(QueryError::at(
                    text,
                    i,
                    QueryErrorKind::UnexpectedCharacter(ch),
                    None,
                ));
            }
        };
        out.push(Token { tok, start });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        start: text.len(),
    });
    Ok(out)
}

/// Reads a quoted string starting at `start`; returns it and the bytes consumed.
fn string(text: &str, start: usize) -> Result<(String, usize), QueryError> {
    let quote = text.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, i + 2)),
            '\\' => {
                let at = start + 1 + i;
                let bad = |e: &str| {
                    QueryError::at(text, at, QueryErrorKind::BadEscape(e.to_owned()), None)
                };
                let Some((_, e)) = chars.next() else {
                    return Err(QueryError::at(
                        text,
                        start,
                        QueryErrorKind::UnterminatedString,
                        None,
                    ));
                };
                match e {
                    '\'' | '"' | '\\' | '/' => out.push(e),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .ok_or_else(|| bad(&format!("\\u{hex}")))?;
                        out.push(char::from_u32(code).ok_or_else(|| bad(&format!("\\u{hex}")))?);
                    }
                    other => return Err(bad(&format!("\\{other}"))),
                }
            }
            c => out.push(c),
        }
    }
    Err(QueryError::at(
        text,
        start,
        QueryErrorKind::UnterminatedString,
        None,
    ))
}

/// Reads a number starting at `start`; returns it and the bytes consumed.
fn number(text: &str, start: usize) -> Result<(f64, usize), QueryError> {
    let bytes = &text.as_bytes()[start..];
    let is_name_char = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$');
    let bad = |len: usize| {
        QueryError::at(
            text,
            start,
            QueryErrorKind::BadNumber(text[start..start + len].to_owned()),
            None,
        )
    };
    if bytes.len() > 1 && bytes[0] == b'0' && matches!(bytes[1], b'x' | b'X') {
        let digits = bytes[2..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let len = 2 + digits;
        if digits == 0 || bytes.get(len).is_some_and(is_name_char) {
            return Err(bad(
                len + bytes[len..].iter().take_while(|b| is_name_char(b)).count()
            ));
        }
        let value = u64::from_str_radix(&text[start + 2..start + len], 16).map_err(|_| bad(len))?;
        // Hexadecimal literals are integers; beyond 2^53 they lose precision like any number.
        return Ok((value as f64, len));
    }
    let mut len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if bytes.get(len) == Some(&b'.') && bytes.get(len + 1).is_some_and(u8::is_ascii_digit) {
        len += 1 + bytes[len + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    }
    if matches!(bytes.get(len), Some(b'e' | b'E')) {
        let mut exp = len + 1;
        if matches!(bytes.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        let digits = bytes[exp..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return Err(bad(exp));
        }
        len = exp + digits;
    }
    if bytes.get(len).is_some_and(is_name_char) {
        let extra = bytes[len..].iter().take_while(|b| is_name_char(b)).count();
        return Err(bad(len + extra));
    }
    let value: f64 = text[start..start + len].parse().map_err(|_| bad(len))?;
    Ok((value, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(text)
            .expect("tokens")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn names_keep_dollars_and_dashes() {
        assert_eq!(
            toks("$dt-subject = 'x' AND a.b_c"),
            [
                Tok::Name("$dt-subject".into()),
                Tok::Eq,
                Tok::Str("x".into()),
                Tok::Name("AND".into()),
                Tok::Name("a".into()),
                Tok::Dot,
                Tok::Name("b_c".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn operators_and_numbers() {
        assert_eq!(
            toks("<> != <= >= < > 12 1.5e3 0x1F -2"),
            [
                Tok::Ne,
                Tok::Ne,
                Tok::Le,
                Tok::Ge,
                Tok::Lt,
                Tok::Gt,
                Tok::Num(12.0),
                Tok::Num(1500.0),
                Tok::Num(31.0),
                Tok::Minus,
                Tok::Num(2.0),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_take_both_quotes_and_escapes() {
        assert_eq!(
            toks(r#"'it\'s' "say \"hi\"" '\u00e9\n'"#),
            [
                Tok::Str("it's".into()),
                Tok::Str("say \"hi\"".into()),
                Tok::Str("é\n".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn bad_tokens_are_located() {
        let e = tokenize("a = 'open").expect_err("unterminated");
        assert_eq!((e.kind, e.column), (QueryErrorKind::UnterminatedString, 5));
        let e = tokenize("a = 12abc").expect_err("bad number");
        assert_eq!(e.kind, QueryErrorKind::BadNumber("12abc".into()));
        let e = tokenize("a = 'x\\q'").expect_err("bad escape");
        assert_eq!(e.kind, QueryErrorKind::BadEscape("\\q".into()));
        let e = tokenize("a ; b").expect_err("semicolon");
        assert_eq!(e.kind, QueryErrorKind::UnexpectedCharacter(';'));
        assert_eq!(e.column, 3);
    }
}
