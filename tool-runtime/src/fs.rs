//! Confined file access: [`SafePath`], a tool argument naming a file under a [`PathPolicy`]'s
//! folders, and the opening of it beneath the application's data folder.
//!
//! Two layers, so neither has to be perfect alone. Parsing is a strict allowlist: ASCII names
//! joined by `/`, under one of the policy's roots, with an allowed extension; nothing is decoded
//! or normalised, so what was checked is exactly what the kernel sees. Opening goes through
//! `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV` against the data folder's descriptor: the kernel itself refuses to leave the
//! folder, to follow any symbolic link (even one that would stay inside), or to cross a mount.
//! The opened handle is then checked (regular file, one hard link) and read with a cap.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::marker::PhantomData;

use cap_std::fs::{Dir, File};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::ToolError;

/// Where a [`SafePath`] may point: which folders, which file types, how large.
///
/// ```
/// use tool_runtime::PathPolicy;
///
/// struct Exports;
/// impl PathPolicy for Exports {
///     const ROOTS: &'static [&'static str] = &["exports", "reports"];
///     const EXTENSIONS: &'static [&'static str] = &["csv", "json", "txt", "md"];
///     const MAX_BYTES: u64 = 1024 * 1024;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path policy",
    label = "`SafePath` needs a `PathPolicy` here",
    note = "declare the folders, extensions and size cap: `impl tool_runtime::PathPolicy for {Self} {{ const ROOTS: &'static [&'static str] = &[\"exports\"]; const EXTENSIONS: &'static [&'static str] = &[\"csv\"]; const MAX_BYTES: u64 = 1 << 20; }}`"
)]
pub trait PathPolicy: Send + Sync + 'static {
    /// Folders under the data folder that paths must lie in, such as `["exports", "reports"]`.
    /// Written like a path (`"exports"` or `"data/exports"`), without leading or trailing `/`.
    const ROOTS: &'static [&'static str];
    /// Allowed extensions, lowercase, without the dot: `["csv", "json"]`. Compared
    /// case-insensitively, so `REPORT.CSV` is a `csv`.
    const EXTENSIONS: &'static [&'static str];
    /// The largest file that may be read, in bytes.
    const MAX_BYTES: u64;
}

/// The longest path accepted, in bytes (all accepted paths are ASCII, so also in characters).
pub const MAX_PATH_LEN: usize = 255;

/// A relative path to a file inside one of `P`'s roots, with one of `P`'s extensions.
///
/// As a tool argument it is a JSON string. Deserialising performs every lexical check, so a
/// handler only ever holds a path that passed them; [`open`](Self::open) and
/// [`read_to_string`](Self::read_to_string) then resolve it beneath the data folder with the
/// kernel refusing escapes, symbolic links and mount crossings.
///
/// Accepted: segments separated by single `/`, each made of ASCII letters, digits, `_` and `-`,
/// optionally joined by single dots (`q1-report.v2.csv`); the first segments equal to a root;
/// the extension (after the last dot) in the allowlist, in any case. Everything else is refused,
/// which covers absolute paths, `..`, `~`, backslashes, `%`, control characters, dot files,
/// trailing dots and every non-ASCII look-alike of `.` or `/`.
pub struct SafePath<P: PathPolicy> {
    path: String,
    policy: PhantomData<fn() -> P>,
}

impl<P: PathPolicy> SafePath<P> {
    /// Checks `path` against the policy's lexical rules. The error is `invalid_input` with the rules.
    pub fn parse(path: &str) -> Result<Self, ToolError> {
        check::<P>(path).map_err(|problem| ToolError::invalid_input(message::<P>(problem)))?;
        Ok(SafePath {
            path: path.to_owned(),
            policy: PhantomData,
        })
    }

    /// The path as given, relative to the data folder.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The rules a path must follow, as told to the model (and in the JSON schema).
    pub fn rules() -> String {
        rules::<P>()
    }

    /// Opens the file beneath `base` (the application's data folder) for reading.
    ///
    /// Refused with `invalid_input`: a symbolic link anywhere on the way (even one staying inside
    /// the folder, since what it points at was never checked against the policy), a mount point
    /// crossed, anything but a regular file (opened non-blocking, so a FIFO cannot hang the call),
    /// a file with more than one hard link. A missing file is `not_found`. The size cap is not
    /// applied here: read through [`read`](Self::read) or [`read_to_string`](Self::read_to_string),
    /// or apply it yourself.
    pub fn open(&self, base: &Dir) -> Result<File, ToolError> {
        let fd = rustix::fs::openat2(
            base,
            self.path.as_str(),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
        )
        .map_err(|errno| self.open_error(errno))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| ToolError::internal(io::Error::from(e)))?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(self.refused("it is not a regular file"));
        }
        if stat.st_nlink > 1 {
            return Err(self.refused("files with more than one hard link are not read"));
        }
        Ok(File::from_std(std::fs::File::from(fd)))
    }

    /// Reads the whole file, at most `P::MAX_BYTES`; a larger file is `too_large`.
    ///
    /// The cap is enforced on the read itself (at most `MAX_BYTES + 1` bytes are read), not on
    /// the size the file system reports, which can be wrong (`/proc` files say 0) or change.
    pub fn read(&self, base: &Dir) -> Result<Vec<u8>, ToolError> {
        let file = self.open(base)?;
        let mut bytes = Vec::new();
        file.take(P::MAX_BYTES.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(ToolError::internal)?;
        if bytes.len() as u64 > P::MAX_BYTES {
            return Err(ToolError::too_large(format!(
                "The file is larger than {}; ask for a smaller one.",
                human_bytes(P::MAX_BYTES)
            )));
        }
        Ok(bytes)
    }

    /// Reads the whole file as UTF-8 text, at most `P::MAX_BYTES`; see [`read`](Self::read).
    pub fn read_to_string(&self, base: &Dir) -> Result<String, ToolError> {
        String::from_utf8(self.read(base)?).map_err(|_| {
            ToolError::invalid_input("The file is not UTF-8 text; only text files can be read.")
        })
    }

    fn open_error(&self, errno: Errno) -> ToolError {
        match errno {
            Errno::NOENT | Errno::NOTDIR => ToolError::not_found(format!(
                "No such file in {}.",
                or_list(P::ROOTS.iter().map(|r| format!("{r}/")))
            )),
            Errno::LOOP => self.refused("symbolic links are not followed"),
            Errno::XDEV => self.refused("it leaves the data folder"),
            Errno::NXIO => self.refused("it is not a regular file"),
            Errno::NOSYS => ToolError::internal(io::Error::new(
                io::ErrorKind::Unsupported,
                "openat2 is missing: confined file access needs Linux 5.6 or newer",
            )),
            other => ToolError::internal(io::Error::from(other)),
        }
    }

    fn refused(&self, why: &str) -> ToolError {
        ToolError::invalid_input(format!("This path cannot be read: {why}. {}", rules::<P>()))
    }
}

/// Why a path string was refused; each is one rule of the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Empty,
    TooLong,
    Control,
    Absolute,
    Backslash,
    Percent,
    Tilde,
    DotDot,
    Character,
    EmptySegment,
    DotEdge,
    OutsideRoots,
    NoExtension,
    Extension,
}

fn check<P: PathPolicy>(path: &str) -> Result<(), Problem> {
    if path.is_empty() {
        return Err(Problem::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(Problem::TooLong);
    }
    if path.chars().any(char::is_control) {
        return Err(Problem::Control);
    }
    if path.starts_with('/') {
        return Err(Problem::Absolute);
    }
    if path.contains('\\') {
        return Err(Problem::Backslash);
    }
    if path.contains('%') {
        return Err(Problem::Percent);
    }
    if path.contains('~') {
        return Err(Problem::Tilde);
    }
    if path.contains("..") {
        return Err(Problem::DotDot);
    }
    if !path
        .bytes()
        .all(|b| is_name_byte(b) || b == b'.' || b == b'/')
    {
        return Err(Problem::Character);
    }
    for segment in path.split('/') {
        if segment.is_empty() {
            return Err(Problem::EmptySegment);
        }
        if segment.starts_with('.') || segment.ends_with('.') {
            return Err(Problem::DotEdge);
        }
    }
    let in_root = P::ROOTS.iter().any(|root| {
        path.strip_prefix(root)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    });
    if !in_root {
        return Err(Problem::OutsideRoots);
    }
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if !file_name.contains('.') {
        return Err(Problem::NoExtension);
    }
    // An extension may hold a dot itself (`tar.gz`): the name must end with it, after a
    // non-empty stem, as the schema's pattern says. The path is ASCII by now, so byte offsets
    // are character offsets.
    let has_allowed = P::EXTENSIONS.iter().any(|allowed| {
        file_name.len() > allowed.len() + 1
            && file_name.as_bytes()[file_name.len() - allowed.len() - 1] == b'.'
            && file_name[file_name.len() - allowed.len()..].eq_ignore_ascii_case(allowed)
    });
    if !has_allowed {
        return Err(Problem::Extension);
    }
    Ok(())
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn message<P: PathPolicy>(problem: Problem) -> String {
    let what = match problem {
        Problem::Empty => "The path is empty",
        Problem::TooLong => "The path is too long",
        Problem::Control => "The path contains control characters",
        Problem::Absolute => "The path must be relative, not absolute",
        Problem::Backslash => "Backslashes are not allowed",
        Problem::Percent => "'%' (encoding) is not allowed",
        Problem::Tilde => "'~' is not allowed",
        Problem::DotDot => "'..' is not allowed",
        Problem::Character => "Only ASCII letters, digits, '.', '_', '-' and '/' are allowed",
        Problem::EmptySegment => "Empty folder names ('//' or a trailing '/') are not allowed",
        Problem::DotEdge => "Names must not start or end with '.'",
        Problem::OutsideRoots => "The path is outside the allowed folders",
        Problem::NoExtension => "The file has no extension",
        Problem::Extension => "This file type is not allowed",
    };
    format!("{what}. {}", rules::<P>())
}

fn rules<P: PathPolicy>() -> String {
    format!(
        "The path must be relative to the data folder, inside {}, ending in {}; names use only ASCII letters, digits, '_' and '-', joined by single '.' or '/'; at most {MAX_PATH_LEN} characters.",
        or_list(P::ROOTS.iter().map(|r| format!("{r}/"))),
        or_list(P::EXTENSIONS.iter().map(|e| format!(".{e}"))),
    )
}

fn or_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// A JSON-Schema (ECMA-262) regular expression accepting exactly the paths [`SafePath::parse`]
/// accepts, given the schema's `maxLength`.
pub fn pattern<P: PathPolicy>() -> String {
    const NAME: &str = "[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*";
    let roots: Vec<String> = P::ROOTS.iter().map(|r| regex_literal(r)).collect();
    let extensions: Vec<String> = P::EXTENSIONS
        .iter()
        .map(|e| {
            e.chars()
                .map(|c| match (c.to_ascii_lowercase(), c.to_ascii_uppercase()) {
                    (l, u) if l != u => format!("[{u}{l}]"),
                    _ => regex_literal(&c.to_string()),
                })
                .collect()
        })
        .collect();
    format!(
        "^({})/({NAME}/)*{NAME}\\.({})$",
        roots.join("|"),
        extensions.join("|")
    )
}

fn regex_literal(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

impl<P: PathPolicy> Clone for SafePath<P> {
    fn clone(&self) -> Self {
        SafePath {
            path: self.path.clone(),
            policy: PhantomData,
        }
    }
}

impl<P: PathPolicy> PartialEq for SafePath<P> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl<P: PathPolicy> Eq for SafePath<P> {}

impl<P: PathPolicy> fmt::Debug for SafePath<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SafePath").field(&self.path).finish()
    }
}

impl<P: PathPolicy> fmt::Display for SafePath<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl<P: PathPolicy> AsRef<str> for SafePath<P> {
    fn as_ref(&self) -> &str {
        &self.path
    }
}

impl<P: PathPolicy> std::str::FromStr for SafePath<P> {
    type Err = ToolError;

    fn from_str(s: &str) -> Result<Self, ToolError> {
        Self::parse(s)
    }
}

impl<P: PathPolicy> serde::Serialize for SafePath<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.path)
    }
}

impl<'de, P: PathPolicy> serde::Deserialize<'de> for SafePath<P> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        check::<P>(&path).map_err(|problem| serde::de::Error::custom(message::<P>(problem)))?;
        Ok(SafePath {
            path,
            policy: PhantomData,
        })
    }
}

impl<P: PathPolicy> schemars::JsonSchema for SafePath<P> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("SafePath")
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Owned(format!(
            "tool_runtime::SafePath<{}>",
            std::any::type_name::<P>()
        ))
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PATH_LEN,
            "pattern": pattern::<P>(),
            "description": rules::<P>(),
        })
    }
}
