//! The `Idempotency-Key` a caller sends with a send (IETF draft-ietf-httpapi-idempotency-key-header):
//! a Structured Field string (`"8e03978e-40d5-43e8"`), or the same unquoted, as many clients
//! send it. 1 to 255 printable ASCII characters.

use super::{Field, ValidationError};

/// Longest key accepted, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

fn invalid(message: String) -> ValidationError {
    ValidationError::new(Field::IdempotencyKey, message)
}

/// The key inside the header's value.
pub fn parse_idempotency_key(raw: &str) -> Result<String, ValidationError> {
    let raw = raw.trim_matches(' ');
    let key = match raw.strip_prefix('"') {
        Some(quoted) => unquote(quoted)?,
        None => raw.to_owned(),
    };
    if key.is_empty() {
        return Err(invalid("Idempotency-Key is empty: send 1 to 255 printable ASCII characters".into()));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(invalid(format!(
            "Idempotency-Key is too long: {} characters, at most {MAX_IDEMPOTENCY_KEY_LEN}",
            key.chars().count()
        )));
    }
    if let Some(c) = key.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(invalid(format!(
            "Idempotency-Key contains '{}' (U+{:04X}): only printable ASCII characters are allowed",
            c.escape_debug(),
            c as u32
        )));
    }
    Ok(key)
}

/// An sf-string's content after its opening quote: `\"` and `\\` escapes, then the closing quote.
fn unquote(rest: &str) -> Result<String, ValidationError> {
    let mut key = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => key.push(e),
                _ => return Err(invalid("Idempotency-Key: only \\\" and \\\\ may be escaped in a quoted key".into())),
            },
            '"' => {
                return if chars.as_str().is_empty() {
                    Ok(key)
                } else {
                    Err(invalid("Idempotency-Key: nothing may follow the closing quote".into()))
                }
            }
            c => key.push(c),
        }
    }
    Err(invalid("Idempotency-Key: the quoted key has no closing quote".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_keys_are_read() {
        assert_eq!(parse_idempotency_key(r#""8e03978e-40d5-43e8""#).unwrap(), "8e03978e-40d5-43e8");
        assert_eq!(parse_idempotency_key("8e03978e-40d5-43e8").unwrap(), "8e03978e-40d5-43e8");
        assert_eq!(parse_idempotency_key(r#""a \"b\" \\c""#).unwrap(), r#"a "b" \c"#);
        assert_eq!(parse_idempotency_key(&"k".repeat(255)).unwrap().len(), 255);
    }

    #[test]
    fn malformed_keys_name_the_header() {
        for bad in ["", "\"\"", "\"open", "\"a\"b", &"k".repeat(256), "caf\u{e9}", "tab\there", "\"bad\\escape\""] {
            let err = parse_idempotency_key(bad).unwrap_err();
            assert_eq!(err.field, Field::IdempotencyKey, "{bad:?}");
            assert!(err.message.starts_with("Idempotency-Key"), "{bad:?}: {}", err.message);
        }
    }
}
