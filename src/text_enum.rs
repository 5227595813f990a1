//! Domain values stored as text: one declaration gives an enum its wire names (serde), its
//! OpenAPI schema, the list of its values and its diesel mapping to a `text` column.
//!
//! Rows hold these enums, never `String`: a value the code does not know (a column written by
//! hand, a newer release's value read by an older one) fails the read loudly instead of
//! falling back to a default that would, say, make an assessed pledge look like a draft.

/// What generic code (the workflow runner, exports) knows of a text-backed enum.
pub trait TextValue: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// Every value, in declaration order.
    const VALUES: &'static [Self];
    /// The stored and wire name.
    fn name(self) -> &'static str;
}

/// Declares a text-backed domain enum:
///
/// ```
/// thidua::text_enum! {
///     /// How a review decided.
///     pub enum Decision {
///         Endorse = "endorse",
///         Oppose = "oppose",
///     }
/// }
/// assert_eq!(Decision::parse("oppose"), Some(Decision::Oppose));
/// assert_eq!(Decision::ALL.len(), 2);
/// assert_eq!(serde_json::to_string(&Decision::Endorse).unwrap(), "\"endorse\"");
/// ```
///
/// Variants are ordered as declared (`Ord`), which roles use for "at least manager".
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            /// The stored and wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value named `text`, if there is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::text_enum::TextValue for $name {
            const VALUES: &'static [Self] = &Self::ALL;
            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(value)?;
                Self::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?} in the database"), text)
                        .into()
                })
            }
        }
    };
}
