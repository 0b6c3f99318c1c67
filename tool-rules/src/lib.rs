//! The rules that `#[secure_tool]` checks at compile time and the runtime checks again where a
//! value reaches it at run time (a rate limit from configuration, a tool registered by hand).
//! They live here once, so the two never disagree. No dependencies: the macros build it too.

use std::time::Duration;

/// Whether `name` is acceptable to every provider as a tool name: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The tool-name rule's fix, for error messages.
pub const TOOL_NAME_RULE: &str = "providers accept 1 to 64 ASCII letters, digits, `_` or `-`";

/// A rate limit: `count` calls per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// At least 1.
    pub count: u32,
    /// One second, minute or hour.
    pub per: Duration,
}

/// Parses `"N/sec"`, `"N/min"` or `"N/hour"`, N written in digits only and at least 1.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let fix = "write `N/sec`, `N/min` or `N/hour` with N a whole number of at least 1";
    let (count, unit) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate limit: {fix}"))?;
    // `u32::from_str` also takes a leading `+`; a count is written with digits only.
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{count}` in `{text}` is not a call count: {fix}"));
    }
    let count: u32 = count.parse().map_err(|_| {
        format!("`{count}` calls in `{text}` is more than a rate limit can count: {fix}")
    })?;
    if count == 0 {
        return Err(format!(
            "a rate limit of 0 calls would disable the tool: {fix}"
        ));
    }
    let per = match unit {
        "sec" => Duration::from_secs(1),
        "min" => Duration::from_secs(60),
        "hour" => Duration::from_secs(3600),
        other => return Err(format!("`{other}` in `{text}` is not a period: {fix}")),
    };
    Ok(Rate { count, per })
}

/// Parses a time limit, `"500ms"`, `"10s"` or `"2m"`, more than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let fix = "write `500ms`, `10s` or `2m`, more than zero";
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let n: u64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a time limit: {fix}"))?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        _ => return Err(format!("`{text}` is not a time limit: {fix}")),
    };
    n.checked_mul(millis_per)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long a time limit: {fix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let rate = |count, secs| {
            Ok(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        assert_eq!(parse_rate("10/min"), rate(10, 60));
        assert_eq!(parse_rate("1/sec"), rate(1, 1));
        assert_eq!(parse_rate("5/hour"), rate(5, 3600));
        for bad in [
            "0/min",
            "10",
            "10/day",
            "-1/min",
            "+5/min",
            "5 / min",
            "5/minute",
            "/min",
            "5/",
            "99999999999/sec",
            "١٠/min",
        ] {
            let why = parse_rate(bad).expect_err(bad);
            assert!(why.contains("N/min"), "{bad}: {why}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout("2min"), Ok(Duration::from_secs(120)));
        for bad in [
            "0s",
            "10",
            "s",
            "",
            "1.5s",
            "-1s",
            "10 s",
            "99999999999999999999s",
            "18446744073709551615m",
        ] {
            let why = parse_timeout(bad).expect_err(bad);
            assert!(why.contains("10s"), "{bad}: {why}");
        }
    }

    #[test]
    fn names() {
        assert!(is_valid_tool_name("get_order"));
        assert!(is_valid_tool_name("a-b_C9"));
        assert!(is_valid_tool_name(&"a".repeat(64)));
        for bad in ["", "get order", "get.order", "get_оrder", "r#type"] {
            assert!(!is_valid_tool_name(bad), "{bad}");
        }
        assert!(!is_valid_tool_name(&"a".repeat(65)));
    }
}
