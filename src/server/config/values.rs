//! The settings' own value types: a secret that never prints, and librdkafka properties.

/// A value that must never reach a log, an error or the UI.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Secret(s.to_owned()))
        }
    }
}

/// `key=value` pairs separated by commas. A piece without `=` continues the previous value,
/// so list-valued properties work too: `debug=broker,msg,linger.ms=5`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaProperties(pub Vec<(String, String)>);

impl std::str::FromStr for KafkaProperties {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match piece.split_once('=') {
                Some((k, v)) => {
                    let k = k.trim();
                    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
                        return Err(format!("'{k}' is not a librdkafka property name"));
                    }
                    pairs.push((k.to_owned(), v.trim().to_owned()));
                }
                None => match pairs.last_mut() {
                    Some((_, value)) => {
                        value.push(',');
                        value.push_str(piece);
                    }
                    None => return Err(format!("'{piece}' is not key=value")),
                },
            }
        }
        Ok(KafkaProperties(pairs))
    }
}
