//! Parser settings: how undefined extension contexts are treated, the highest DTDL version
//! accepted, which limit-extension contexts are acceptable, and tolerance quirks for
//! real-world solecisms.

use crate::dtmi::Dtmi;

/// What to do with an extension context the parser does not define
/// (e.g. `dtmi:undefinedExtension:context;1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UndefinedExtensions {
    /// Tolerate them; undefined co-types and their properties are then accepted too.
    Always,
    /// Refuse them.
    Never,
    /// Per DTDL version: v2 tolerates, v3 and v4 refuse.
    #[default]
    PerDefault,
}

/// Tolerance switches for common mistakes in published models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// For submitted documents: permit reserved id prefixes, read `{"@id": x}` as a reference
    /// to `x`, and keep the first of duplicate content names.
    pub tolerate_solecisms_in_parse: bool,
    /// The same for documents supplied by the resolver.
    pub tolerate_solecisms_in_resolve: bool,
}

/// Parser settings.
#[derive(Clone, Debug)]
pub struct ParsingOptions {
    pub undefined_extensions: UndefinedExtensions,
    /// Highest DTDL major version accepted (2..=4).
    pub max_dtdl_version: u8,
    /// Limit-extension contexts (e.g. `dtmi:dtdl:limits:onvif;1`) the caller accepts. A
    /// versionless entry accepts every version; `;N` accepts major N.
    pub acceptable_limit_contexts: Vec<Dtmi>,
    pub quirks: Quirks,
}

impl Default for ParsingOptions {
    fn default() -> Self {
        ParsingOptions {
            undefined_extensions: UndefinedExtensions::PerDefault,
            max_dtdl_version: 4,
            acceptable_limit_contexts: Vec::new(),
            quirks: Quirks::default(),
        }
    }
}

impl ParsingOptions {
    /// Whether an undefined extension context is tolerated in a model of this DTDL version.
    pub fn allows_undefined_extensions(&self, dtdl_version: u8) -> bool {
        match self.undefined_extensions {
            UndefinedExtensions::Always => true,
            UndefinedExtensions::Never => false,
            UndefinedExtensions::PerDefault => dtdl_version <= 2,
        }
    }

    /// Whether the limit context `ctx` is acceptable under these options.
    pub fn accepts_limit_context(&self, ctx: &Dtmi) -> bool {
        self.acceptable_limit_contexts.iter().any(|a| {
            a.without_fragment().split(';').next() == ctx.without_fragment().split(';').next()
                && match (a.major_version(), ctx.major_version()) {
                    (None, _) => true,
                    (Some(am), Some(cm)) => {
                        am == cm
                            && a.minor_version().unwrap_or(0) <= ctx.minor_version().unwrap_or(0)
                    }
                    (Some(_), None) => false,
                }
        })
    }
}
