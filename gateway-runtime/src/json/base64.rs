//! Lenient base64 for `bytes` fields, as etcd's gateway reads them (Go's decoder skips `\r` and
//! `\n`), plus what clients of other gateways send: URL-safe characters and missing padding.

/// Why a base64 text could not be decoded (the message completes "invalid base64 in <field>").
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Base64Error(pub(crate) String);

/// Decodes standard or URL-safe base64, padded or not, ignoring `\r` and `\n`.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut group: u32 = 0;
    let mut in_group = 0usize;
    let mut padding_at: Option<usize> = None;
    for (index, character) in text.chars().enumerate() {
        if character == '\r' || character == '\n' {
            continue;
        }
        if character == '=' {
            padding_at.get_or_insert(index);
            continue;
        }
        let value = match (padding_at, sextet(character)) {
            (None, Some(value)) => value,
            _ => return Err(invalid_character(index, character)),
        };
        group = (group << 6) | u32::from(value);
        in_group += 1;
        if in_group == 4 {
            out.extend_from_slice(&[(group >> 16) as u8, (group >> 8) as u8, group as u8]);
            group = 0;
            in_group = 0;
        }
    }
    match in_group {
        0 => {}
        2 => out.push((group >> 4) as u8),
        3 => out.extend_from_slice(&[(group >> 10) as u8, (group >> 2) as u8]),
        _ => {
            return Err(Base64Error(
                ": the text ends with a single character of a 4-character group".to_owned(),
            ));
        }
    }
    Ok(out)
}

fn invalid_character(index: usize, character: char) -> Base64Error {
    let shown = if character.is_control() {
        format!("U+{:04X}", u32::from(character))
    } else {
        format!("'{character}'")
    };
    Base64Error(format!(" at character {} ({shown})", index + 1))
}

/// The 6-bit value of a base64 character of either alphabet.
fn sextet(character: char) -> Option<u8> {
    Some(match character {
        'A'..='Z' => character as u8 - b'A',
        'a'..='z' => character as u8 - b'a' + 26,
        '0'..='9' => character as u8 - b'0' + 52,
        '+' | '-' => 62,
        '/' | '_' => 63,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_padded_unpadded_url_safe_and_wrapped() {
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zg").unwrap(), b"f");
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("-_8").unwrap(), decode("+/8").unwrap());
        assert_eq!(decode("Zm9v\nYmFy\r\n").unwrap(), b"foobar");
        assert_eq!(decode("Zm\r\n9v").unwrap(), b"foo");
    }

    #[test]
    fn reports_the_character() {
        assert_eq!(
            decode("!abc").unwrap_err().0,
            " at character 1 ('!')".to_owned()
        );
        assert_eq!(
            decode("Zg==Zg").unwrap_err().0,
            " at character 5 ('Z')".to_owned()
        );
        assert_eq!(
            decode("Zm9v\t").unwrap_err().0,
            " at character 5 (U+0009)".to_owned()
        );
        assert!(decode("Zm9vY").unwrap_err().0.contains("single character"));
    }
}
