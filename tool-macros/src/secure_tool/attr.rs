//! The keys of `#[secure_tool(...)]`, parsed with darling.

use darling::FromMeta;
use darling::util::{Flag, SpannedValue};
use syn::{Expr, Lit, LitStr, Path};

/// The attribute as written, before any check.
#[derive(FromMeta, Default)]
pub struct ToolAttr {
    pub role: Option<RoleRef>,
    pub public: Flag,
    pub returns: Option<syn::Type>,
    pub name: Option<LitStr>,
    pub read_only: Flag,
    pub idempotent: Flag,
    pub open_world: Flag,
    pub destructive: Flag,
    pub confirm: Option<LitStr>,
    pub rate_limit: Option<LitStr>,
    pub timeout: Option<LitStr>,
    pub max_items: Option<SpannedValue<usize>>,
}

/// `role = "snake_name"` or `role = Role::Variant`.
pub enum RoleRef {
    Name(LitStr),
    Path(Path),
}

impl FromMeta for RoleRef {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => Ok(RoleRef::Name(s.clone())),
                _ => Err(role_error().with_span(expr)),
            },
            Expr::Path(p) => Ok(RoleRef::Path(p.path.clone())),
            Expr::Group(g) => Self::from_expr(&g.expr),
            _ => Err(role_error().with_span(expr)),
        }
    }
}

fn role_error() -> darling::Error {
    darling::Error::custom(
        "`role` takes a role's snake_case name, `role = \"support_agent\"`, or its path, `role = Role::SupportAgent`",
    )
}

/// `"10/min"` as a count and a period in seconds. The same rules as the runtime's
/// `Quota::parse`: digits only, at least 1, and exactly `sec`, `min` or `hour`.
pub fn parse_rate(text: &str) -> Result<(u32, u64), String> {
    let fix = "write `rate_limit = \"N/sec\"`, `\"N/min\"` or `\"N/hour\"` with N at least 1";
    let malformed = || format!("malformed rate limit `{text}`: {fix}");
    let (count, unit) = text.split_once('/').ok_or_else(malformed)?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(malformed)?;
    let secs = match unit {
        "sec" => 1,
        "min" => 60,
        "hour" => 3600,
        _ => return Err(format!("unknown period in rate limit `{text}`: {fix}")),
    };
    Ok((count, secs))
}

/// `"10s"`, `"500ms"`, `"2m"` as milliseconds.
pub fn parse_timeout(text: &str) -> Result<u64, String> {
    let fix = "write `timeout = \"500ms\"`, `\"10s\"` or `\"2m\"`, more than zero";
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(digits_end);
    let n: u64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("malformed timeout `{text}`: {fix}"))?;
    let per = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        _ => return Err(format!("malformed timeout `{text}`: {fix}")),
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("timeout `{text}` is too long: {fix}"))
}

/// Whether a tool name is acceptable to every provider: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10/min"), Ok((10, 60)));
        assert_eq!(parse_rate("1/sec"), Ok((1, 1)));
        assert_eq!(parse_rate("5/hour"), Ok((5, 3600)));
        assert!(parse_rate("0/min").is_err());
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("10/day").is_err());
        assert!(parse_rate("-1/min").is_err());
        assert!(parse_rate("+5/min").is_err());
        assert!(parse_rate("5 / min").is_err());
        assert!(parse_rate("5/minute").is_err());
        assert!(parse_rate("99999999999/sec").is_err());
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("10s"), Ok(10_000));
        assert_eq!(parse_timeout("500ms"), Ok(500));
        assert_eq!(parse_timeout("2m"), Ok(120_000));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("10").is_err());
        assert!(parse_timeout("s").is_err());
        assert!(parse_timeout("99999999999999999999s").is_err());
    }

    #[test]
    fn names() {
        assert!(valid_tool_name("get_order"));
        assert!(valid_tool_name("a-b_C9"));
        assert!(!valid_tool_name(""));
        assert!(!valid_tool_name("get order"));
        assert!(!valid_tool_name("get.order"));
        assert!(!valid_tool_name(&"a".repeat(65)));
    }
}
