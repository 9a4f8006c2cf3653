//! Evaluation semantics shared by device queries and routing conditions (those of IoT Hub's
//! query language, which follow Cosmos DB's SQL):
//!
//! - a path that leads nowhere is *undefined*, which is not `null`;
//! - comparisons need both sides of the same primitive type (numbers, strings, booleans,
//!   `null`); anything else (an undefined side, mismatched types, objects, arrays) is undefined,
//!   not false; only numbers and strings are ordered, strings by code point;
//! - `AND`, `OR` and `NOT` use three-valued logic with undefined as the third value (non-boolean
//!   operands count as undefined);
//! - a condition holds only when it is `true`.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::ast::{ArithmeticOp, CompareOp, Expr, Function, Literal, Path, Segment};

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(Cow<'a, str>),
    Array(&'a [Value]),
    Object(&'a Map<String, Value>),
}

impl<'a> Val<'a> {
    /// A JSON value seen as a query value.
    pub fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Val::Undefined, Val::Number),
            Value::String(s) => Val::String(Cow::Borrowed(s)),
            Value::Array(a) => Val::Array(a),
            Value::Object(o) => Val::Object(o),
        }
    }

    pub(crate) fn from_literal(lit: &'a Literal) -> Val<'a> {
        match lit {
            Literal::Undefined => Val::Undefined,
            Literal::Null => Val::Null,
            Literal::Bool(b) => Val::Bool(*b),
            Literal::Number(n) => Val::Number(*n),
            Literal::String(s) => Val::String(Cow::Borrowed(s)),
        }
    }

    /// The value as JSON; `None` when undefined.
    pub fn to_json(&self) -> Option<Value> {
        Some(match self {
            Val::Undefined => return None,
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Number(n) => number_json(*n),
            Val::String(s) => Value::String(s.to_string()),
            Val::Array(a) => Value::Array(a.to_vec()),
            Val::Object(o) => Value::Object((*o).clone()),
        })
    }

    pub(crate) fn is_true(&self) -> bool {
        matches!(self, Val::Bool(true))
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A number as JSON: integral values as integers, so that `2` stays `2`.
pub(crate) fn number_json(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() < EXACT {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Follows `segments` from a JSON value. `ignore_case` falls back to a case-insensitive member
/// match when there is no exact one (routing conditions match names that way).
pub(crate) fn follow<'a>(mut value: &'a Value, segments: &[Segment], ignore_case: bool) -> Val<'a> {
    for segment in segments {
        let next = match (segment, value) {
            (Segment::Key(k), Value::Object(members)) => members.get(k).or_else(|| {
                if ignore_case {
                    members
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                } else {
                    None
                }
            }),
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(v) => value = v,
            None => return Val::Undefined,
        }
    }
    Val::from_json(value)
}

/// Resolves the paths of one language against one document or message.
pub(crate) trait Resolve<R> {
    fn resolve(&self, path: &Path<R>) -> Val<'_>;
}

/// Evaluates an expression.
pub(crate) fn eval<'a, R, C: Resolve<R>>(expr: &'a Expr<R>, ctx: &'a C) -> Val<'a> {
    match expr {
        Expr::Literal(l) => Val::from_literal(l),
        Expr::Path(p) => ctx.resolve(p),
        Expr::Not(e) => match eval(e, ctx).as_bool() {
            Some(b) => Val::Bool(!b),
            None => Val::Undefined,
        },
        Expr::And(a, b) => {
            let (a, b) = (eval(a, ctx).as_bool(), eval(b, ctx).as_bool());
            match (a, b) {
                (Some(false), _) | (_, Some(false)) => Val::Bool(false),
                (Some(true), Some(true)) => Val::Bool(true),
                _ => Val::Undefined,
            }
        }
        Expr::Or(a, b) => {
            let (a, b) = (eval(a, ctx).as_bool(), eval(b, ctx).as_bool());
            match (a, b) {
                (Some(true), _) | (_, Some(true)) => Val::Bool(true),
                (Some(false), Some(false)) => Val::Bool(false),
                _ => Val::Undefined,
            }
        }
        Expr::Compare(op, a, b) => compare(*op, &eval(a, ctx), &eval(b, ctx)),
        Expr::In {
            value,
            list,
            negated,
        } => {
            let v = eval(value, ctx);
            let mut result = Some(false);
            for item in list {
                match compare(CompareOp::Eq, &v, &Val::from_literal(item)) {
                    Val::Bool(true) => {
                        result = Some(true);
                        break;
                    }
                    Val::Bool(false) => {}
                    _ => result = None,
                }
            }
            match result {
                Some(b) => Val::Bool(b != *negated),
                None => Val::Undefined,
            }
        }
        Expr::Arithmetic(op, a, b) => arithmetic(*op, &eval(a, ctx), &eval(b, ctx)),
        Expr::Negate(e) => match eval(e, ctx) {
            Val::Number(n) => Val::Number(-n),
            _ => Val::Undefined,
        },
        Expr::Call(f, args) => {
            let args: Vec<Val<'a>> = args.iter().map(|a| eval(a, ctx)).collect();
            call(*f, args)
        }
    }
}

/// A comparison under the rules above.
pub(crate) fn compare(op: CompareOp, a: &Val<'_>, b: &Val<'_>) -> Val<'static> {
    let ordering = match (a, b) {
        (Val::Number(x), Val::Number(y)) => x.partial_cmp(y),
        (Val::String(x), Val::String(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Val::Bool(x), Val::Bool(y)) if !op.is_ordering() => Some(x.cmp(y)),
        (Val::Null, Val::Null) if !op.is_ordering() => Some(Ordering::Equal),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return Val::Undefined;
    };
    Val::Bool(match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    })
}

fn arithmetic(op: ArithmeticOp, a: &Val<'_>, b: &Val<'_>) -> Val<'static> {
    let (Val::Number(x), Val::Number(y)) = (a, b) else {
        return Val::Undefined;
    };
    let r = match op {
        ArithmeticOp::Add => x + y,
        ArithmeticOp::Sub => x - y,
        ArithmeticOp::Mul => x * y,
        ArithmeticOp::Div if *y == 0.0 => return Val::Undefined,
        ArithmeticOp::Div => x / y,
        ArithmeticOp::Rem if *y == 0.0 => return Val::Undefined,
        ArithmeticOp::Rem => x % y,
    };
    finite(r)
}

fn finite(n: f64) -> Val<'static> {
    if n.is_finite() {
        Val::Number(n)
    } else {
        Val::Undefined
    }
}

fn call<'a>(f: Function, mut args: Vec<Val<'a>>) -> Val<'a> {
    let first = args.first().cloned().unwrap_or(Val::Undefined);
    let num = |v: &Val<'_>| match v {
        Val::Number(n) => Some(*n),
        _ => None,
    };
    let text = |v: &Val<'a>| match v {
        Val::String(s) => Some(s.clone()),
        _ => None,
    };
    let strings2 = |args: &[Val<'a>]| match (args.first(), args.get(1)) {
        (Some(Val::String(a)), Some(Val::String(b))) => Some((a.clone(), b.clone())),
        _ => None,
    };
    match f {
        Function::IsDefined => Val::Bool(first != Val::Undefined),
        Function::IsArray => Val::Bool(matches!(first, Val::Array(_))),
        Function::IsBool => Val::Bool(matches!(first, Val::Bool(_))),
        Function::IsNull => Val::Bool(matches!(first, Val::Null)),
        Function::IsNumber => Val::Bool(matches!(first, Val::Number(_))),
        Function::IsObject => Val::Bool(matches!(first, Val::Object(_))),
        Function::IsString => Val::Bool(matches!(first, Val::String(_))),
        Function::IsPrimitive => Val::Bool(matches!(
            first,
            Val::Null | Val::Bool(_) | Val::Number(_) | Val::String(_)
        )),
        Function::StartsWith => strings2(&args).map_or(Val::Undefined, |(a, b)| {
            Val::Bool(a.starts_with(b.as_ref()))
        }),
        Function::EndsWith => {
            strings2(&args).map_or(Val::Undefined, |(a, b)| Val::Bool(a.ends_with(b.as_ref())))
        }
        Function::Contains => {
            strings2(&args).map_or(Val::Undefined, |(a, b)| Val::Bool(a.contains(b.as_ref())))
        }
        Function::IndexOf => strings2(&args).map_or(Val::Undefined, |(a, b)| {
            let index = a
                .find(b.as_ref())
                .map_or(-1.0, |byte| a[..byte].chars().count() as f64);
            Val::Number(index)
        }),
        Function::AsNumber => match first {
            Val::Number(n) => Val::Number(n),
            Val::String(s) => parse_number(&s).map_or(Val::Undefined, Val::Number),
            _ => Val::Undefined,
        },
        Function::Concat => {
            let mut out = String::new();
            for a in args.drain(..) {
                match a {
                    Val::String(s) => out.push_str(&s),
                    _ => return Val::Undefined,
                }
            }
            Val::String(Cow::Owned(out))
        }
        Function::Length => {
            text(&first).map_or(Val::Undefined, |s| Val::Number(s.chars().count() as f64))
        }
        Function::Lower => text(&first).map_or(Val::Undefined, |s| {
            Val::String(Cow::Owned(s.to_lowercase()))
        }),
        Function::Upper => text(&first).map_or(Val::Undefined, |s| {
            Val::String(Cow::Owned(s.to_uppercase()))
        }),
        Function::Substring => {
            let (Some(s), Some(start)) = (text(&first), args.get(1).and_then(num)) else {
                return Val::Undefined;
            };
            let length = match args.get(2) {
                None => None,
                Some(v) => match num(v) {
                    Some(n) => Some(n),
                    None => return Val::Undefined,
                },
            };
            let start = start.max(0.0).floor() as usize;
            let taken: String = match length {
                Some(n) => s
                    .chars()
                    .skip(start)
                    .take(n.max(0.0).floor() as usize)
                    .collect(),
                None => s.chars().skip(start).collect(),
            };
            Val::String(Cow::Owned(taken))
        }
        Function::Abs => num(&first).map_or(Val::Undefined, |n| Val::Number(n.abs())),
        Function::Ceiling => num(&first).map_or(Val::Undefined, |n| Val::Number(n.ceil())),
        Function::Floor => num(&first).map_or(Val::Undefined, |n| Val::Number(n.floor())),
        Function::Sign => num(&first).map_or(Val::Undefined, |n| {
            Val::Number(if n > 0.0 {
                1.0
            } else if n < 0.0 {
                -1.0
            } else {
                0.0
            })
        }),
        Function::Square => num(&first).map_or(Val::Undefined, |n| finite(n * n)),
        Function::Sqrt => num(&first)
            .filter(|n| *n >= 0.0)
            .map_or(Val::Undefined, |n| Val::Number(n.sqrt())),
        Function::Exp => num(&first).map_or(Val::Undefined, |n| finite(n.exp())),
        Function::Power => match (num(&first), args.get(1).and_then(num)) {
            (Some(x), Some(y)) => finite(x.powf(y)),
            _ => Val::Undefined,
        },
    }
}

/// A number written in a string (`AS_NUMBER`): JSON number syntax, surrounding whitespace
/// allowed.
fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Val<'_> {
        Val::String(Cow::Borrowed(v))
    }

    #[test]
    fn comparisons_of_mismatched_types_are_undefined() {
        assert_eq!(
            compare(CompareOp::Eq, &Val::Number(1.0), &s("1")),
            Val::Undefined
        );
        assert_eq!(
            compare(CompareOp::Ne, &Val::Number(1.0), &s("1")),
            Val::Undefined
        );
        assert_eq!(
            compare(CompareOp::Eq, &Val::Undefined, &Val::Null),
            Val::Undefined
        );
        assert_eq!(
            compare(CompareOp::Eq, &Val::Null, &Val::Null),
            Val::Bool(true)
        );
        assert_eq!(
            compare(CompareOp::Lt, &Val::Null, &Val::Null),
            Val::Undefined
        );
        assert_eq!(
            compare(CompareOp::Lt, &Val::Bool(false), &Val::Bool(true)),
            Val::Undefined
        );
        assert_eq!(
            compare(CompareOp::Ne, &Val::Bool(false), &Val::Bool(true)),
            Val::Bool(true)
        );
        assert_eq!(compare(CompareOp::Le, &s("a"), &s("b")), Val::Bool(true));
        assert_eq!(compare(CompareOp::Gt, &s("é"), &s("z")), Val::Bool(true));
        assert_eq!(
            compare(CompareOp::Eq, &Val::Number(2.0), &Val::Number(2.0)),
            Val::Bool(true)
        );
    }

    #[test]
    fn functions_follow_the_documented_behaviour() {
        assert_eq!(call(Function::AsNumber, vec![s(" 2.5 ")]), Val::Number(2.5));
        assert_eq!(call(Function::AsNumber, vec![s("two")]), Val::Undefined);
        assert_eq!(call(Function::Length, vec![s("héllo")]), Val::Number(5.0));
        assert_eq!(
            call(Function::IndexOf, vec![s("héllo"), s("llo")]),
            Val::Number(2.0)
        );
        assert_eq!(
            call(Function::IndexOf, vec![s("a"), s("b")]),
            Val::Number(-1.0)
        );
        assert_eq!(
            call(
                Function::Substring,
                vec![s("héllo"), Val::Number(1.0), Val::Number(3.0)]
            ),
            s("éll")
        );
        assert_eq!(
            call(Function::Substring, vec![s("abc"), Val::Number(1.0)]),
            s("bc")
        );
        assert_eq!(
            call(Function::Concat, vec![s("a"), s("b"), s("c")]),
            s("abc")
        );
        assert_eq!(
            call(Function::Concat, vec![s("a"), Val::Number(1.0)]),
            Val::Undefined
        );
        assert_eq!(
            call(Function::Sign, vec![Val::Number(-3.0)]),
            Val::Number(-1.0)
        );
        assert_eq!(
            call(Function::Power, vec![Val::Number(2.0), Val::Number(10.0)]),
            Val::Number(1024.0)
        );
        assert_eq!(
            call(Function::Sqrt, vec![Val::Number(-1.0)]),
            Val::Undefined
        );
        assert_eq!(
            call(Function::IsPrimitive, vec![Val::Null]),
            Val::Bool(true)
        );
        assert_eq!(
            call(Function::IsDefined, vec![Val::Undefined]),
            Val::Bool(false)
        );
        assert_eq!(call(Function::Upper, vec![s("ab")]), s("AB"));
        assert_eq!(
            arithmetic(ArithmeticOp::Div, &Val::Number(1.0), &Val::Number(0.0)),
            Val::Undefined
        );
    }

    #[test]
    fn integral_numbers_stay_integers_in_json() {
        assert_eq!(number_json(2.0), Value::from(2));
        assert_eq!(number_json(2.5), serde_json::json!(2.5));
    }
}
