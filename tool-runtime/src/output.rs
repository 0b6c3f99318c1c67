//! What the model may see: safe output types, domain records and their secrets, projection and masking.

use serde::Serialize;

/// A value the model may see.
///
/// Derive it on an allowlisted output type (`#[derive(SafeOutput)]`, usually with
/// `#[safe_output(from = DomainType)]`); strings, numbers, booleans, and `Option`/`Vec` of safe
/// outputs already are.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a SafeOutput: raw domain values never reach the model",
    label = "the model would see this value whole",
    note = "add `returns = SomeSafeType` to #[secure_tool(...)], where SomeSafeType derives SafeOutput with #[safe_output(from = ...)] and lists only the fields the model may see"
)]
pub trait SafeOutput: Serialize + schemars::JsonSchema + Send + 'static {
    /// The fields of the source record this type is projected from
    /// (`#[safe_output(from = ...)]`), in declaration order; empty for a type that is not
    /// projected. A handler can load just these from its store, so that a secret column is never
    /// even read: `db.customer(id, SafeCustomer::SOURCE_FIELDS)`.
    const SOURCE_FIELDS: &'static [&'static str] = &[];

    /// Cuts a list to `max` items; returns how many there were when it did. Only lists cut.
    fn truncate_items(&mut self, max: usize) -> Option<usize> {
        let _ = max;
        None
    }
}

/// A domain record: the handler works with it, the model never sees it whole.
///
/// Derive it, marking what can never be projected with `#[secret]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Record, so a SafeOutput cannot be projected from it",
    label = "not a Record",
    note = "add `#[derive(Record)]` to `{Self}` and mark its sensitive fields `#[secret]`"
)]
pub trait Record {
    /// Fields that no projection may copy.
    const SECRET_FIELDS: &'static [&'static str];
}

/// What keeps a record from being a safe output: every `SafeOutput` has it, and
/// `#[derive(Record)]` implements it too, so a type declared both (by derive or by a hand-written
/// `impl SafeOutput`) has two implementations and does not compile. A record reaches the model
/// only through a projection, which leaves its `#[secret]` fields out.
#[doc(hidden)]
pub trait ARecordCannotBeASafeOutput {}

impl<T: SafeOutput> ARecordCannotBeASafeOutput for T {}

/// A value that projects into the safe type `T` field by field. Derived by `SafeOutput` for
/// its source; lists and options project item by item; plain values project to themselves.
#[diagnostic::on_unimplemented(
    message = "cannot project `{Self}` into `{T}`",
    label = "this field's type differs from the source field's type",
    note = "a SafeOutput field takes its source field's type, or a SafeOutput type derived with `#[safe_output(from = <the source field's type>)]`"
)]
pub trait Project<T> {
    /// Projects the value.
    fn project(self) -> T;
}

/// A handler's value that projects into the tool's `returns = T` type, through `Option` and `Vec`.
#[diagnostic::on_unimplemented(
    message = "the handler's value `{Self}` cannot be projected into `{T}`",
    label = "returned here",
    note = "derive SafeOutput on `{T}` with `#[safe_output(from = <the handler's value type>)]`"
)]
pub trait ProjectAs<T> {
    /// The projected type: `T`, `Vec<T>`, `Option<T>`...
    type Out: SafeOutput;
    /// Projects the value.
    fn project_as(self) -> Self::Out;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl SafeOutput for $t {}
        impl Project<$t> for $t {
            fn project(self) -> $t { self }
        }
    )*};
}
plain!(
    String,
    bool,
    i8,
    i16,
    i32,
    i64,
    isize,
    u8,
    u16,
    u32,
    u64,
    usize,
    f32,
    f64,
    ()
);

impl<T: SafeOutput> SafeOutput for Option<T> {}

impl<T: SafeOutput> SafeOutput for Vec<T> {
    fn truncate_items(&mut self, max: usize) -> Option<usize> {
        let len = self.len();
        (len > max).then(|| {
            self.truncate(max);
            len
        })
    }
}

impl<S: Project<T>, T> Project<Vec<T>> for Vec<S> {
    fn project(self) -> Vec<T> {
        self.into_iter().map(Project::project).collect()
    }
}

impl<S: Project<T>, T> Project<Option<T>> for Option<S> {
    fn project(self) -> Option<T> {
        self.map(Project::project)
    }
}

impl<S: ProjectAs<T>, T> ProjectAs<T> for Vec<S> {
    type Out = Vec<S::Out>;
    fn project_as(self) -> Self::Out {
        self.into_iter().map(ProjectAs::project_as).collect()
    }
}

impl<S: ProjectAs<T>, T> ProjectAs<T> for Option<S> {
    type Out = Option<S::Out>;
    fn project_as(self) -> Self::Out {
        self.map(ProjectAs::project_as)
    }
}

/// A list output that `max_items` can cut.
#[diagnostic::on_unimplemented(
    message = "`max_items` needs a list output, and `{Self}` is not one",
    label = "not a Vec",
    note = "remove `max_items`, or return a `Vec` of safe outputs"
)]
pub trait ItemList {}
impl<T> ItemList for Vec<T> {}

/// A field `#[mask(...)]` can apply to. The mask is applied when the value is serialised, so it
/// holds for every value of the type that reaches the model, however it was built.
#[diagnostic::on_unimplemented(
    message = "`#[mask]` works on string fields only, and this field is `{Self}`",
    label = "not a string",
    note = "remove `#[mask]` from this field, or project it as a `String`"
)]
pub trait Maskable: Sized {
    /// The value with `f` applied to its text.
    fn masked(&self, f: impl Fn(&str) -> String) -> Self;
}

impl Maskable for String {
    fn masked(&self, f: impl Fn(&str) -> String) -> Self {
        f(self)
    }
}

impl Maskable for Option<String> {
    fn masked(&self, f: impl Fn(&str) -> String) -> Self {
        self.as_deref().map(f)
    }
}

/// Hides every letter and digit but the last `keep`, keeping separators:
/// `555-010-1234` becomes `***-***-1234`.
///
/// A value with fewer than twice `keep` letters and digits is hidden whole, so that a short
/// value is never mostly revealed.
pub fn mask_keep_last(text: &str, keep: usize) -> String {
    let alnum = text.chars().filter(|c| c.is_alphanumeric()).count();
    let reveal_from = if alnum >= keep.saturating_mul(2) {
        alnum - keep
    } else {
        alnum
    };
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen > reveal_from { c } else { '*' }
        })
        .collect()
}

/// Keeps an email's first character and its domain: `alice@example.com` becomes `a***@example.com`.
/// Text that is not an address is hidden whole.
pub fn mask_email(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// Whether `name` is in `list`, usable in constants: how a projection checks, at compile
/// time, that it copies no `#[secret]` field.
#[doc(hidden)]
pub const fn contains(list: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < list.len() {
        if eq(list[i].as_bytes(), name.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

/// String equality, usable in constants.
#[doc(hidden)]
pub const fn str_eq(a: &str, b: &str) -> bool {
    eq(a.as_bytes(), b.as_bytes())
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_last_four_and_separators() {
        assert_eq!(mask_keep_last("555-010-1234", 4), "***-***-1234");
    }

    #[test]
    fn short_values_are_hidden_whole() {
        assert_eq!(mask_keep_last("1234", 4), "****");
        assert_eq!(mask_keep_last("12345", 4), "*****");
        assert_eq!(mask_keep_last("", 4), "");
    }

    #[test]
    fn email_keeps_first_letter_and_domain() {
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_email("not an address"), "***");
        assert_eq!(mask_email("@example.com"), "***");
    }

    #[test]
    fn const_contains_matches_whole_names_only() {
        assert!(contains(&["ssn", "token"], "ssn"));
        assert!(!contains(&["ssn"], "ss"));
        assert!(!contains(&[], "ssn"));
    }
}
