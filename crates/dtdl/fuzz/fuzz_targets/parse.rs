//! Fuzzes the DTDL parser with arbitrary bytes: the input is split at NUL bytes into up to
//! four documents parsed together, under both undefined-extension settings. The parser must
//! never panic; every reported error must render and point inside its document.
//!
//! `cargo +nightly fuzz run parse` (from `crates/dtdl`).

#![no_main]

use dtdl::{ParseFailure, ParsingOptions, UndefinedExtensions, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let docs: Vec<&str> = text.split('\0').take(4).collect();
    for undefined in [UndefinedExtensions::PerDefault, UndefinedExtensions::Always] {
        let options = ParsingOptions { undefined_extensions: undefined, ..ParsingOptions::default() };
        if let Err(ParseFailure::Invalid(errors)) = parse(&docs, None, &options) {
            for e in errors {
                let _ = e.to_string();
                if let Some(loc) = e.location {
                    assert!(loc.line >= 1 && loc.column >= 1);
                }
            }
        }
    }
});
