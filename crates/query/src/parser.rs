//! The recursive-descent parser of expressions, shared by device queries and routing
//! conditions; what differs between the two (roots of paths, which functions exist, whether
//! arithmetic and array indexes are allowed) comes from a [`Dialect`].
//!
//! Precedence, loosest first: `OR`; `AND`; `NOT`; comparisons (`= != <> < > <= >=`, `IN`,
//! `NIN`, `NOT IN`); `+ -`; `* / %`; unary `-`; literals, paths, calls and parentheses.

use crate::ast::{ArithmeticOp, CompareOp, Expr, Function, Literal, Path, Segment};
use crate::error::{QueryError, QueryErrorKind};
use crate::lexer::{Tok, Token, tokenize};

/// Longest query text IoT Hub accepts.
pub(crate) const MAX_QUERY_CHARS: usize = 8192;

/// One step of a path as written, before the dialect interprets it.
#[derive(Clone, Debug)]
pub(crate) struct RawSegment {
    pub(crate) segment: Segment,
    pub(crate) offset: usize,
}

/// What differs between the two languages.
pub(crate) trait Dialect {
    type Root;
    /// Whether `+ - * / %` and unary minus are allowed.
    const ARITHMETIC: bool;
    /// Whether paths may index arrays (`a[0]`).
    const INDEXES: bool;
    /// The functions the language has.
    fn functions() -> &'static [Function];
    /// Interprets a path: its first name and the steps after it.
    fn path(
        parser: &Parser<'_>,
        first: &str,
        offset: usize,
        rest: Vec<RawSegment>,
    ) -> Result<Path<Self::Root>, QueryError>;
}

pub(crate) struct Parser<'t> {
    pub(crate) text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
}

impl<'t> Parser<'t> {
    pub(crate) fn new(text: &'t str) -> Result<Parser<'t>, QueryError> {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(QueryError::at(
                text,
                0,
                QueryErrorKind::TooLong {
                    max: MAX_QUERY_CHARS,
                },
                Some(format!("{chars} characters")),
            ));
        }
        Ok(Parser {
            text,
            tokens: tokenize(text)?,
            pos: 0,
        })
    }

    pub(crate) fn peek(&self) -> &Token {
        // The token list always ends with Eof, which is never consumed.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].tok
    }

    pub(crate) fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    /// An error at the current token.
    pub(crate) fn error(&self, kind: QueryErrorKind) -> QueryError {
        let t = self.peek();
        QueryError::at(self.text, t.start, kind, Some(t.tok.describe()))
    }

    pub(crate) fn expected(&self, what: &str) -> QueryError {
        self.error(QueryErrorKind::Expected(what.to_owned()))
    }

    /// An error at a given offset, without a "found" part.
    pub(crate) fn error_at(&self, offset: usize, kind: QueryErrorKind) -> QueryError {
        QueryError::at(self.text, offset, kind, None)
    }

    /// Whether the current token is the keyword `kw` (case-insensitive).
    pub(crate) fn at_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Name(n) if n.eq_ignore_ascii_case(kw))
    }

    fn keyword_ahead(&self, ahead: usize, kw: &str) -> bool {
        matches!(self.peek_at(ahead), Tok::Name(n) if n.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.at_keyword(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_keyword(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.expected(kw))
        }
    }

    pub(crate) fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), QueryError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    pub(crate) fn expect_end(&self, what: &str) -> Result<(), QueryError> {
        if self.peek().tok == Tok::Eof {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    pub(crate) fn expression<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        self.or::<D>()
    }

    fn or<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        let mut left = self.and::<D>()?;
        while self.eat_keyword("OR") {
            let right = self.and::<D>()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        let mut left = self.not::<D>()?;
        while self.eat_keyword("AND") {
            let right = self.not::<D>()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        if self.eat_keyword("NOT") {
            let inner = self.not::<D>()?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.comparison::<D>()
    }

    fn comparison<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        let left = self.additive::<D>()?;
        let op = match self.peek().tok {
            Tok::Eq => Some(CompareOp::Eq),
            Tok::Ne => Some(CompareOp::Ne),
            Tok::Lt => Some(CompareOp::Lt),
            Tok::Gt => Some(CompareOp::Gt),
            Tok::Le => Some(CompareOp::Le),
            Tok::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.additive::<D>()?;
            return Ok(Expr::Compare(op, Box::new(left), Box::new(right)));
        }
        let negated = if self.at_keyword("NOT") && self.keyword_ahead(1, "IN") {
            self.advance();
            self.advance();
            true
        } else if self.eat_keyword("IN") {
            false
        } else if self.eat_keyword("NIN") {
            true
        } else {
            return Ok(left);
        };
        let list = self.literal_list()?;
        Ok(Expr::In {
            value: Box::new(left),
            list,
            negated,
        })
    }

    fn literal_list(&mut self) -> Result<Vec<Literal>, QueryError> {
        self.expect(&Tok::LBracket, "'[' opening a list of constants")?;
        let mut items = Vec::new();
        if self.eat(&Tok::RBracket) {
            return Ok(items);
        }
        loop {
            match self.literal() {
                Some(l) => items.push(l),
                None => {
                    return Err(self.expected("a constant (string, number, true, false or null)"));
                }
            }
            if self.eat(&Tok::RBracket) {
                return Ok(items);
            }
            self.expect(&Tok::Comma, "',' or ']'")?;
        }
    }

    /// A constant at the current position (consumed), if there is one.
    fn literal(&mut self) -> Option<Literal> {
        let negative = self.peek().tok == Tok::Minus && matches!(self.peek_at(1), Tok::Num(_));
        if negative {
            self.advance();
        }
        let lit = match &self.peek().tok {
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Num(n) => Literal::Number(if negative { -n } else { *n }),
            Tok::Name(n) if n.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Name(n) if n.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Name(n) if n.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Name(n) if n.eq_ignore_ascii_case("undefined") => Literal::Undefined,
            _ => return None,
        };
        self.advance();
        Some(lit)
    }

    fn additive<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        let mut left = self.multiplicative::<D>()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => ArithmeticOp::Add,
                Tok::Minus => ArithmeticOp::Sub,
                _ => return Ok(left),
            };
            self.arithmetic_allowed::<D>()?;
            self.advance();
            let right = self.multiplicative::<D>()?;
            left = Expr::Arithmetic(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        let mut left = self.unary::<D>()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => ArithmeticOp::Mul,
                Tok::Slash => ArithmeticOp::Div,
                Tok::Percent => ArithmeticOp::Rem,
                _ => return Ok(left),
            };
            self.arithmetic_allowed::<D>()?;
            self.advance();
            let right = self.unary::<D>()?;
            left = Expr::Arithmetic(op, Box::new(left), Box::new(right));
        }
    }

    fn arithmetic_allowed<D: Dialect>(&self) -> Result<(), QueryError> {
        if D::ARITHMETIC {
            Ok(())
        } else {
            Err(self.error(QueryErrorKind::Unsupported(
                "arithmetic is not supported in device queries; compare fields with constants"
                    .into(),
            )))
        }
    }

    fn unary<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        if self.peek().tok == Tok::Minus && !matches!(self.peek_at(1), Tok::Num(_)) {
            self.arithmetic_allowed::<D>()?;
            self.advance();
            let inner = self.unary::<D>()?;
            return Ok(Expr::Negate(Box::new(inner)));
        }
        self.primary::<D>()
    }

    fn primary<D: Dialect>(&mut self) -> Result<Expr<D::Root>, QueryError> {
        if let Some(lit) = self.literal() {
            return Ok(Expr::Literal(lit));
        }
        let token = self.peek().clone();
        match token.tok {
            Tok::LParen => {
                self.advance();
                let inner = self.expression::<D>()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::LBracket => Err(self.error(QueryErrorKind::Unsupported(
                "a list of constants is only allowed after IN or NIN".into(),
            ))),
            Tok::Name(name) if self.peek_at(1) == &Tok::LParen => {
                self.advance();
                self.call::<D>(&name, token.start)
            }
            Tok::Name(name) => {
                if is_reserved(&name) {
                    return Err(self.expected("a value (a field, a constant or a function call)"));
                }
                self.advance();
                let rest = self.path_rest::<D>()?;
                D::path(self, &name, token.start, rest).map(Expr::Path)
            }
            _ => Err(self.expected("a value (a field, a constant or a function call)")),
        }
    }

    /// The `.name` and `[n]` steps after a path's first name.
    pub(crate) fn path_rest<D: Dialect>(&mut self) -> Result<Vec<RawSegment>, QueryError> {
        let mut out = Vec::new();
        loop {
            if self.eat(&Tok::Dot) {
                let t = self.peek().clone();
                match t.tok {
                    Tok::Name(n) => {
                        self.advance();
                        out.push(RawSegment {
                            segment: Segment::Key(n),
                            offset: t.start,
                        });
                    }
                    _ => return Err(self.expected("a property name after '.'")),
                }
            } else if self.peek().tok == Tok::LBracket {
                let start = self.peek().start;
                if !D::INDEXES {
                    return Err(self.error(QueryErrorKind::Unsupported(
                        "array indexes are not supported in device queries".into(),
                    )));
                }
                self.advance();
                let index = match self.peek().tok {
                    Tok::Num(n) if n >= 0.0 && n.fract() == 0.0 && n <= 1e9 => n as usize,
                    _ => return Err(self.expected("an array index (0, 1, …)")),
                };
                self.advance();
                self.expect(&Tok::RBracket, "']'")?;
                out.push(RawSegment {
                    segment: Segment::Index(index),
                    offset: start,
                });
            } else {
                return Ok(out);
            }
        }
    }

    fn call<D: Dialect>(&mut self, name: &str, offset: usize) -> Result<Expr<D::Root>, QueryError> {
        let known = || {
            D::functions()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let function = Function::by_name(name)
            .filter(|f| D::functions().contains(f))
            .ok_or_else(|| {
                self.error_at(
                    offset,
                    QueryErrorKind::UnknownFunction {
                        name: name.to_owned(),
                        known: known(),
                    },
                )
            })?;
        self.expect(&Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.expression::<D>()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "',' or ')'")?;
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (1, 1) => "one argument".to_owned(),
                (a, b) if a == b => format!("{a} arguments"),
                (a, usize::MAX) => format!("at least {a} arguments"),
                (a, b) => format!("{a} to {b} arguments"),
            };
            return Err(self.error_at(
                offset,
                QueryErrorKind::BadArguments {
                    function: function.name().to_owned(),
                    expected: format!("{expected}, not {}", args.len()),
                },
            ));
        }
        if function == Function::IsDefined && !matches!(args[0], Expr::Path(_)) {
            return Err(self.error_at(
                offset,
                QueryErrorKind::BadArguments {
                    function: function.name().to_owned(),
                    expected: "a property path, e.g. IS_DEFINED(tags.location)".into(),
                },
            ));
        }
        Ok(Expr::Call(function, args))
    }
}

/// Keywords that cannot start a value.
fn is_reserved(name: &str) -> bool {
    [
        "AND", "OR", "NOT", "IN", "NIN", "SELECT", "FROM", "WHERE", "GROUP", "BY", "AS", "TOP",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(name))
}
