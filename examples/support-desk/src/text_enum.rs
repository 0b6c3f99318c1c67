//! Closed sets of values stored as text in SQLite and exchanged as JSON strings.
//!
//! One declaration gives the enum its database text, its JSON name and its schema, so the three
//! cannot drift apart: the SQL only ever sees `as_str()`, and reading an unexpected value from
//! the database is an error instead of a silently wrong variant.

/// Declares a fieldless enum whose variants map one to one to fixed strings.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash,
            ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and used in JSON.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value with that text, if there is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        /// The first value: what a record read in part holds where the column was not read.
        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self::ALL[0]
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // A closed set of fixed names reveals nothing but which one it is: the model may see it.
        impl ::tool_runtime::SafeOutput for $name {}

        impl ::tool_runtime::Project<$name> for $name {
            fn project(self) -> Self {
                self
            }
        }

        impl ::rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> ::rusqlite::Result<::rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl ::rusqlite::types::FromSql for $name {
            fn column_result(
                value: ::rusqlite::types::ValueRef<'_>,
            ) -> ::rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::parse(text).ok_or_else(|| {
                    ::rusqlite::types::FromSqlError::Other(
                        format!(concat!("unexpected ", stringify!($name), " {:?}"), text).into(),
                    )
                })
            }
        }
    };
}
