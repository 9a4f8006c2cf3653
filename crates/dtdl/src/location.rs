//! Line/column lookup for JSON pointers. Documents are parsed with serde_json without position
//! tracking (fast path); only when an error is reported do we walk the original text to the
//! pointer's target with this small iterative scanner (no recursion, so any nesting depth is
//! safe).

/// Finds the 1-based (line, column) of the value designated by `pointer` in `text`. Returns the
/// position of the deepest value reached when the pointer does not fully resolve.
pub(crate) fn locate(text: &str, pointer: &str) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    // Skip a UTF-8 BOM.
    if bytes[pos..].starts_with(&[0xEF, 0xBB, 0xBF]) {
        pos = skip_ws(bytes, pos + 3);
    }
    if !pointer.is_empty() {
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            match find_child(bytes, pos, &token) {
                Some(p) => pos = p,
                None => break,
            }
        }
    }
    line_col(text, pos)
}

fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, pos)];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut pos: usize) -> usize {
    pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// Given the start of a container value at `pos`, returns the start of its child `token`.
fn find_child(b: &[u8], pos: usize, token: &str) -> Option<usize> {
    match b.get(pos)? {
        b'{' => {
            let mut p = skip_ws(b, pos + 1);
            loop {
                if b.get(p)? != &b'"' {
                    return None;
                }
                let (key, after) = read_string(b, p)?;
                p = skip_ws(b, after);
                if b.get(p)? != &b':' {
                    return None;
                }
                p = skip_ws(b, p + 1);
                if key == token {
                    return Some(p);
                }
                p = skip_ws(b, skip_value(b, p)?);
                match b.get(p)? {
                    b',' => p = skip_ws(b, p + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let index: usize = token.parse().ok()?;
            let mut p = skip_ws(b, pos + 1);
            for _ in 0..index {
                p = skip_ws(b, skip_value(b, p)?);
                match b.get(p)? {
                    b',' => p = skip_ws(b, p + 1),
                    _ => return None,
                }
            }
            Some(p)
        }
        _ => None,
    }
}

/// Reads a JSON string starting at the quote at `pos`; returns its decoded text and the
/// position after the closing quote.
fn read_string(b: &[u8], pos: usize) -> Option<(String, usize)> {
    let mut p = pos + 1;
    let start = p;
    let mut simple = true;
    while p < b.len() {
        match b[p] {
            b'"' => {
                let raw = std::str::from_utf8(&b[start..p]).ok()?;
                let decoded = if simple {
                    raw.to_owned()
                } else {
                    serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()?
                };
                return Some((decoded, p + 1));
            }
            b'\\' => {
                simple = false;
                p += 2;
            }
            _ => p += 1,
        }
    }
    None
}

/// Skips one JSON value starting at `pos`; returns the position after it. Iterative.
fn skip_value(b: &[u8], pos: usize) -> Option<usize> {
    let mut p = pos;
    let mut depth = 0usize;
    loop {
        match b.get(p)? {
            b'"' => {
                p += 1;
                while *b.get(p)? != b'"' {
                    p += if b[p] == b'\\' { 2 } else { 1 };
                }
                p += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                p += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                p += 1;
            }
            _ if depth == 0 => {
                // A scalar at top level: run to the next delimiter.
                while p < b.len()
                    && !matches!(b[p], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    p += 1;
                }
                return Some(p);
            }
            _ => p += 1,
        }
        if depth == 0 {
            return Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_members_and_array_items() {
        let text = "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    {\"c/d\": true}\n  ]\n}";
        assert_eq!(locate(text, ""), (1, 1));
        assert_eq!(locate(text, "/a"), (2, 8));
        assert_eq!(locate(text, "/b/0"), (4, 5));
        assert_eq!(locate(text, "/b/1/c~1d"), (5, 13));
        assert_eq!(locate(text, "/zzz"), (1, 1));
    }
}
