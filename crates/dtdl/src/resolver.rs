//! The resolver interface: the parser asks for every identifier it still lacks, one batch per
//! round, and the caller answers with JSON documents. A synchronous trait always; an async
//! variant behind the `async` cargo feature, without tying the crate to a runtime.

use crate::dtmi::Dtmi;
use crate::error::ResolverError;

/// Supplies definitions of DTMIs the submitted documents reference but do not define.
pub trait Resolver {
    /// Returns JSON texts (each an object or an array of objects) defining some or all of
    /// `dtmis`. Ids it does not know may be omitted; extra definitions are welcome.
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError>;
}

impl<F> Resolver for F
where
    F: FnMut(&[Dtmi]) -> Result<Vec<String>, ResolverError>,
{
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        self(dtmis)
    }
}

/// The asynchronous counterpart of [`Resolver`], for callers whose storage is async.
#[cfg(feature = "async")]
pub trait AsyncResolver {
    /// See [`Resolver::resolve`].
    fn resolve(
        &mut self,
        dtmis: &[Dtmi],
    ) -> impl std::future::Future<Output = Result<Vec<String>, ResolverError>> + Send;
}
