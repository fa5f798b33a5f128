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

#[cfg(test)]
mod tests {
    use super::*;

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
