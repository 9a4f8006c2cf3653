//! The syntax tree shared by device queries and routing conditions. An [`Expr`] is generic over
//! the root of its paths: a device query's paths start at twin fields, tags or properties
//! ([`crate::TwinRoot`]); a routing condition's at message properties, the body or the twin
//! ([`crate::RouteRoot`]).

/// A value expression or a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr<R> {
    Literal(Literal),
    Path(Path<R>),
    Not(Box<Expr<R>>),
    And(Box<Expr<R>>, Box<Expr<R>>),
    Or(Box<Expr<R>>, Box<Expr<R>>),
    Compare(CompareOp, Box<Expr<R>>, Box<Expr<R>>),
    /// `value IN [..]` (or `NIN`, `NOT IN`: `negated`).
    In {
        value: Box<Expr<R>>,
        list: Vec<Literal>,
        negated: bool,
    },
    /// Routing conditions only.
    Arithmetic(ArithmeticOp, Box<Expr<R>>, Box<Expr<R>>),
    /// Routing conditions only.
    Negate(Box<Expr<R>>),
    Call(Function, Vec<Expr<R>>),
}

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CompareOp {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether the operator orders values (only numbers and strings are ordered).
    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithmeticOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    IsDefined,
    StartsWith,
    EndsWith,
    Contains,
    IsArray,
    IsBool,
    IsNull,
    IsNumber,
    IsObject,
    IsPrimitive,
    IsString,
    AsNumber,
    Concat,
    Length,
    Lower,
    Upper,
    Substring,
    IndexOf,
    Abs,
    Ceiling,
    Floor,
    Sign,
    Square,
    Sqrt,
    Exp,
    Power,
}

impl Function {
    /// The function's name as documented.
    pub fn name(self) -> &'static str {
        match self {
            Function::IsDefined => "IS_DEFINED",
            Function::StartsWith => "STARTS_WITH",
            Function::EndsWith => "ENDS_WITH",
            Function::Contains => "CONTAINS",
            Function::IsArray => "IS_ARRAY",
            Function::IsBool => "IS_BOOL",
            Function::IsNull => "IS_NULL",
            Function::IsNumber => "IS_NUMBER",
            Function::IsObject => "IS_OBJECT",
            Function::IsPrimitive => "IS_PRIMITIVE",
            Function::IsString => "IS_STRING",
            Function::AsNumber => "AS_NUMBER",
            Function::Concat => "CONCAT",
            Function::Length => "LENGTH",
            Function::Lower => "LOWER",
            Function::Upper => "UPPER",
            Function::Substring => "SUBSTRING",
            Function::IndexOf => "INDEX_OF",
            Function::Abs => "ABS",
            Function::Ceiling => "CEILING",
            Function::Floor => "FLOOR",
            Function::Sign => "SIGN",
            Function::Square => "SQUARE",
            Function::Sqrt => "SQRT",
            Function::Exp => "EXP",
            Function::Power => "POWER",
        }
    }

    /// Every function, for lookups by name.
    pub(crate) const ALL: [Function; 26] = [
        Function::IsDefined,
        Function::StartsWith,
        Function::EndsWith,
        Function::Contains,
        Function::IsArray,
        Function::IsBool,
        Function::IsNull,
        Function::IsNumber,
        Function::IsObject,
        Function::IsPrimitive,
        Function::IsString,
        Function::AsNumber,
        Function::Concat,
        Function::Length,
        Function::Lower,
        Function::Upper,
        Function::Substring,
        Function::IndexOf,
        Function::Abs,
        Function::Ceiling,
        Function::Floor,
        Function::Sign,
        Function::Square,
        Function::Sqrt,
        Function::Exp,
        Function::Power,
    ];

    /// Looks a function up by name, case-insensitively; `STARTSWITH` and `ENDSWITH` (the
    /// spelling twin queries use) name the same functions as `STARTS_WITH` and `ENDS_WITH`.
    pub(crate) fn by_name(name: &str) -> Option<Function> {
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "STARTSWITH" => return Some(Function::StartsWith),
            "ENDSWITH" => return Some(Function::EndsWith),
            _ => {}
        }
        Function::ALL.into_iter().find(|f| f.name() == upper)
    }

    /// (fewest, most) arguments.
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Function::StartsWith
            | Function::EndsWith
            | Function::Contains
            | Function::IndexOf
            | Function::Power => (2, 2),
            Function::Concat => (2, usize::MAX),
            Function::Substring => (2, 3),
            _ => (1, 1),
        }
    }
}

/// A path into the document: a root and member or index steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Path<R> {
    pub root: R,
    pub segments: Vec<Segment>,
    /// Byte offset of the path in the text.
    pub offset: usize,
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}
