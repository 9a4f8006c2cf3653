//! Behaviour of the public parse API the repository service relies on.

use dtdl::{DocumentRef, Dtmi, ParseFailure, ParsingOptions, Resolver, ResolverError, parse};

const BASE: &str = r#"{"@context":"dtmi:dtdl:context;3","@id":"dtmi:com:example:Base;1","@type":"Interface",
  "contents":[{"@type":"Property","name":"p","schema":"double"}]}"#;
const CHILD: &str = r#"{"@context":"dtmi:dtdl:context;3","@id":"dtmi:com:example:Child;1","@type":"Interface",
  "extends":"dtmi:com:example:Base;1",
  "contents":[{"@type":"Telemetry","name":"t","schema":"double"}]}"#;

#[test]
fn a_model_spanning_two_documents_records_external_references() {
    let model = parse(&[CHILD, BASE], None, &ParsingOptions::default()).expect("valid model");
    let docs = model.documents();
    assert_eq!(docs.len(), 2);
    assert_eq!(
        docs[0].roots,
        [Dtmi::parse("dtmi:com:example:Child;1").expect("valid DTMI")]
    );
    assert_eq!(docs[0].dtdl_version, 3);
    assert_eq!(
        docs[0]
            .external_references
            .iter()
            .map(Dtmi::as_str)
            .collect::<Vec<_>>(),
        ["dtmi:com:example:Base;1"]
    );
    assert!(docs[1].external_references.is_empty());
}

#[test]
fn an_unknown_reference_without_resolver_is_an_unresolved_failure() {
    match parse(&[CHILD], None, &ParsingOptions::default()) {
        Err(ParseFailure::Unresolved(e)) => {
            assert_eq!(
                e.unresolved,
                [Dtmi::parse("dtmi:com:example:Base;1").expect("valid DTMI")]
            );
            assert_eq!(e.references.len(), 1);
            assert_eq!(e.references[0].1.document, DocumentRef::Input(0));
            assert_eq!(e.references[0].1.line, 2);
        }
        other => panic!("expected unresolved, got {other:?}"),
    }
}

struct OneShot(u32);

impl Resolver for OneShot {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        self.0 += 1;
        assert_eq!(dtmis.len(), 1);
        Ok(vec![BASE.to_owned()])
    }
}

#[test]
fn the_resolver_supplies_missing_definitions_in_one_batch() {
    let mut r = OneShot(0);
    let model = parse(&[CHILD], Some(&mut r), &ParsingOptions::default()).expect("valid model");
    assert_eq!(r.0, 1);
    assert_eq!(model.documents().len(), 1);
    assert!(
        model.documents()[0]
            .external_references
            .contains(&Dtmi::parse("dtmi:com:example:Base;1").expect("valid DTMI"))
    );
}

#[test]
fn errors_carry_validation_ids_and_positions() {
    let bad = "{\n  \"@context\": \"dtmi:dtdl:context;3\",\n  \"@id\": \"dtmi:com:example:x;1;2\",\n  \"@type\": \"Interface\"\n}";
    match parse(&[bad], None, &ParsingOptions::default()) {
        Err(ParseFailure::Invalid(errors)) => {
            let e = &errors[0];
            assert_eq!(e.validation_id, "dtmi:dtdl:parsingError:invalidId");
            let loc = e.location.as_ref().expect("located");
            assert_eq!(
                (loc.pointer.as_str(), loc.line, loc.column),
                ("/@id", 3, 10)
            );
            assert!(!e.to_string().is_empty());
        }
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn scalars_and_deep_nesting_are_refused_cleanly() {
    for text in ["626", "null", "\"hello\"", "true"] {
        assert!(matches!(
            parse(&[text], None, &ParsingOptions::default()),
            Err(ParseFailure::Invalid(_))
        ));
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse(&[&deep], None, &ParsingOptions::default()),
        Err(ParseFailure::Invalid(_))
    ));
}

#[cfg(feature = "async")]
mod async_api {
    use super::{BASE, CHILD};
    use dtdl::{AsyncResolver, Dtmi, ParsingOptions, ResolverError, parse_async};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    struct Store;

    impl AsyncResolver for Store {
        fn resolve(
            &mut self,
            dtmis: &[Dtmi],
        ) -> impl Future<Output = Result<Vec<String>, ResolverError>> + Send {
            let found = dtmis
                .iter()
                .any(|d| d.as_str() == "dtmi:com:example:Base;1");
            async move {
                Ok(if found {
                    vec![BASE.to_owned()]
                } else {
                    Vec::new()
                })
            }
        }
    }

    /// Drives a future that never waits (the store above answers immediately).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn the_async_parser_resolves_through_an_async_store() {
        let mut store = Store;
        let model = block_on(parse_async(
            &[CHILD],
            Some(&mut store),
            &ParsingOptions::default(),
        ))
        .expect("valid model");
        assert_eq!(model.documents()[0].external_references.len(), 1);
    }
}

#[test]
fn an_interface_over_the_partition_limit_is_refused() {
    let contents: Vec<String> = (0..2600)
        .map(|i| {
            format!(
                r#"{{"@type":"Property","name":"p{i}","schema":"string","comment":"{}"}}"#,
                "c".repeat(400)
            )
        })
        .collect();
    let big = format!(
        r#"{{"@context":"dtmi:dtdl:context;3","@id":"dtmi:com:example:Big;1","@type":"Interface","contents":[{}]}}"#,
        contents.join(",")
    );
    match parse(&[&big], None, &ParsingOptions::default()) {
        Err(ParseFailure::Invalid(errors)) => assert_eq!(
            errors[0].validation_id,
            "dtmi:dtdl:parsingError:partitionTooLarge"
        ),
        other => panic!("expected a partition error, got {other:?}"),
    }
}
