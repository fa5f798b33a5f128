//! Validation rules that the server enforces and the dashboard mirrors for early feedback.

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 1024;
pub const ORG_NAME_MAX_CHARS: usize = 100;
pub const ORG_DESCRIPTION_MAX_CHARS: usize = 1000;
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
pub const SLUG_MAX_LEN: usize = 48;
pub const SESSION_TIMEOUT_MIN_MINUTES: i32 = 15;
pub const SESSION_TIMEOUT_MAX_MINUTES: i32 = 43_200;
pub const SESSION_TIMEOUT_DEFAULT_MINUTES: i32 = 480;

/// Slugs that would shadow routes or impersonate the service.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "auth",
    "billing",
    "dashboard",
    "docs",
    "gatehouse",
    "help",
    "login",
    "logout",
    "mcp",
    "me",
    "new",
    "oauth",
    "orgs",
    "register",
    "root",
    "settings",
    "signup",
    "static",
    "status",
    "support",
    "system",
    "www",
    "well-known",
    "_admin",
    "assets",
];

/// `^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$`
pub fn slug_is_well_formed(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match b.len() {
        0 => false,
        1 => ok(&b[0]),
        n if n <= SLUG_MAX_LEN => {
            ok(&b[0]) && ok(&b[n - 1]) && b[1..n - 1].iter().all(|c| ok(c) || *c == b'-')
        }
        _ => false,
    }
}

pub fn slug_is_reserved(s: &str) -> bool {
    RESERVED_SLUGS.contains(&s)
}

/// Derives a slug from a display name: lowercase ASCII letters and digits, other runs
/// become one hyphen. Returns `None` when nothing usable is left.
pub fn slug_from_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(SLUG_MAX_LEN);
    let out = out.trim_matches('-').to_string();
    slug_is_well_formed(&out).then_some(out)
}

pub fn password_problem(p: &str) -> Option<String> {
    let n = p.chars().count();
    if n < PASSWORD_MIN_CHARS {
        Some(format!("must be at least {PASSWORD_MIN_CHARS} characters"))
    } else if n > PASSWORD_MAX_CHARS {
        Some(format!("must be at most {PASSWORD_MAX_CHARS} characters"))
    } else {
        None
    }
}

/// A character that changes how text around it is laid out or hides in it: bidi
/// embeddings, overrides, isolates and marks, zero-width characters, the other invisible
/// format characters of U+2060–U+206F, and tag characters. In a name other people read
/// (org, member, connector, key, OAuth client), they let one name pass for another
/// ("invoice\u{202E}fdp.exe") or smuggle hidden text.
pub fn is_hidden_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{061C}'                 // Arabic letter mark
        | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated
        | '\u{FEFF}'               // zero-width no-break space (BOM)
        | '\u{E0000}'..='\u{E007F}' // tags
    )
}

/// What is wrong with `s` as a text field, if anything. Control characters (C0, DEL,
/// C1; NUL among them, which PostgreSQL cannot store) are refused everywhere, except
/// line breaks and tabs in `multi_line` fields. `display` names are also refused
/// characters that hide or reorder text (`is_hidden_or_bidi`), except a zero-width
/// (non-)joiner between two non-ASCII characters: Persian and Indic words and emoji
/// sequences need it there, and there it cannot hide inside an ASCII name.
pub fn text_problem(s: &str, multi_line: bool, display: bool) -> Option<&'static str> {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_control() && !(multi_line && matches!(c, '\n' | '\r' | '\t')) {
            return Some(if multi_line {
                "must not contain control characters other than line breaks and tabs"
            } else {
                "must not contain control characters or line breaks"
            });
        }
        if display && is_hidden_or_bidi(c) && !joins_in_context(&chars, i) {
            return Some("must not contain invisible or text-direction characters");
        }
    }
    None
}

fn joins_in_context(chars: &[char], i: usize) -> bool {
    let visible_non_ascii =
        |c: &char| !c.is_ascii() && !c.is_whitespace() && !c.is_control() && !is_hidden_or_bidi(*c);
    matches!(chars[i], '\u{200C}' | '\u{200D}')
        && i > 0
        && chars.get(i - 1).is_some_and(visible_non_ascii)
        && chars.get(i + 1).is_some_and(visible_non_ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_multi_line_text() {
        for bad in ["a\u{0}b", "\u{1b}[2J", "del\u{7f}", "c1\u{85}", "\u{9f}"] {
            assert!(text_problem(bad, false, false).is_some(), "{bad:?}");
            assert!(text_problem(bad, true, false).is_some(), "{bad:?}");
        }
        for breaks in ["two\nlines", "tab\there", "crlf\r\n"] {
            assert!(text_problem(breaks, false, false).is_some(), "{breaks:?}");
            assert_eq!(text_problem(breaks, true, false), None, "{breaks:?}");
        }
        for fine in [
            "",
            "Acme Corp",
            "Ünïcode — «ok»",
            "שלום",
            "名前",
            "emoji 🚀",
        ] {
            assert_eq!(text_problem(fine, false, true), None, "{fine:?}");
        }
    }

    #[test]
    fn names_refuse_hidden_and_direction_changing_characters() {
        let hidden = [
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{E0000}',
            '\u{E0041}',
            '\u{E007F}',
        ];
        for c in hidden {
            assert!(is_hidden_or_bidi(c), "{c:?}");
            let name = format!("ad{c}min");
            assert!(text_problem(&name, false, true).is_some(), "{name:?}");
            // Descriptions may carry them (right-to-left text needs its marks).
            assert_eq!(text_problem(&name, true, false), None, "{name:?}");
        }
        for c in [
            'a',
            ' ',
            '\u{00E9}',
            '\u{05D0}',
            '\u{2070}',
            '\u{E0080}',
            '\u{FEFE}',
        ] {
            assert!(!is_hidden_or_bidi(c), "{c:?}");
        }
        // Joiners inside Persian words and emoji sequences, not next to ASCII or at an end.
        assert_eq!(text_problem("می\u{200C}خواهم", false, true), None);
        assert_eq!(text_problem("👩\u{200D}💻 team", false, true), None);
        for bad in [
            "\u{200D}👩",
            "👩\u{200D}",
            "a\u{200C}b",
            "👩\u{200D}\u{200D}💻",
        ] {
            assert!(text_problem(bad, false, true).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn slugs_follow_the_published_pattern() {
        for good in ["a", "ab", "a-b", "acme-corp-2", &"a".repeat(48)] {
            assert!(slug_is_well_formed(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a b", &"a".repeat(49), "é"] {
            assert!(!slug_is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn slugs_derive_from_names() {
        assert_eq!(slug_from_name("Acme Corp!").as_deref(), Some("acme-corp"));
        assert_eq!(
            slug_from_name("  --Ünïcode  Org-- ").as_deref(),
            Some("n-code-org")
        );
        assert_eq!(slug_from_name("!!!"), None);
        let long = slug_from_name(&"ab ".repeat(40)).unwrap_or_default();
        assert!(slug_is_well_formed(&long) && long.len() <= 48);
    }
}
