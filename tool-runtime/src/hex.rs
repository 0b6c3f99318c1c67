//! Bytes as hex text: identifiers from the operating system's CSPRNG (tickets, incidents),
//! and digests.

/// `N` random bytes from the OS, as lowercase hex.
///
/// The OS generator failing is not something a caller can recover from, and handing out a
/// predictable ticket would be worse than stopping.
pub(crate) fn hex_token<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    hex(&bytes)
}

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// `N` random bytes from the OS, for keys.
#[cfg_attr(not(feature = "mcp"), allow(dead_code))]
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes
}

/// Lowercase or uppercase hex as bytes; `None` for anything else, or for more than 4 KiB.
#[cfg_attr(not(any(feature = "mcp", feature = "redis")), allow(dead_code))]
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    // `from_str_radix` alone would also take a sign: "+f" is not hex.
    if !text.len().is_multiple_of(2)
        || text.len() > 8192
        || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
