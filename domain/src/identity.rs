//! Who is who: organisations, partner types, roles and personas (PRODUCT.md, "Who uses it").

use crate::FieldError;

/// Declares a closed vocabulary: an enum whose values travel as fixed snake_case strings,
/// with a human label, the list of all values and strict parsing.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $code:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant,)+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code used in storage, URLs and the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The label shown to people.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Parses a code, naming `field` when it is not one of the known values.
            pub fn parse(code: &str, field: &str) -> Result<Self, FieldError> {
                match code {
                    $($code => Ok($name::$variant),)+
                    other => Err(FieldError::new(
                        field,
                        format!(
                            concat!("unknown ", $what, " `{}`; expected one of: {}"),
                            other,
                            [$($code),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = FieldError;
            fn from_str(code: &str) -> Result<Self, FieldError> {
                Self::parse(code, stringify!($name))
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// What a partner user does day to day; it decides which room they land in.
    Persona, "persona" {
        Sales => "sales", "Sales";
        Presales => "presales", "Presales";
        Marketing => "marketing", "Marketing";
        PostSales => "post_sales", "Post-sales";
    }
}

vocabulary! {
    /// What a user may do. Partner roles belong to partner organisations, the rest to the vendor.
    Role, "role" {
        PartnerAdmin => "partner_admin", "Partner admin";
        PartnerUser => "partner_user", "Partner user";
        VendorAdmin => "vendor_admin", "Vendor admin";
        ChannelManager => "channel_manager", "Channel manager";
        ContentPublisher => "content_publisher", "Content publisher";
        Finance => "finance", "Finance";
    }
}

impl Role {
    /// Whether this role belongs to a partner organisation (as opposed to the vendor's staff).
    pub fn is_partner(self) -> bool {
        matches!(self, Role::PartnerAdmin | Role::PartnerUser)
    }

    /// Whether this role may create, edit and publish content.
    pub fn can_publish_content(self) -> bool {
        matches!(self, Role::VendorAdmin | Role::ContentPublisher)
    }

    /// Whether this role may import facts, run rebates, and approve and pay statements.
    pub fn can_run_rebates(self) -> bool {
        matches!(self, Role::VendorAdmin | Role::Finance)
    }
}

vocabulary! {
    /// How a partner sells the vendor's products.
    PartnerType, "partner type" {
        Reseller => "reseller", "Reseller";
        Distributor => "distributor", "Distributor";
        TierTwoReseller => "tier_two_reseller", "Tier-two reseller";
        Msp => "msp", "Managed-service provider";
        Referral => "referral", "Referral partner";
    }
}

vocabulary! {
    /// Sales regions used for targeting and reporting.
    Region, "region" {
        NorthAmerica => "na", "North America";
        LatinAmerica => "latam", "Latin America";
        Emea => "emea", "Europe, Middle East & Africa";
        Apac => "apac", "Asia Pacific";
    }
}

vocabulary! {
    /// Whether an organisation is the vendor running the program or one of its partners.
    OrganisationKind, "organisation kind" {
        Vendor => "vendor", "Vendor";
        Partner => "partner", "Partner";
    }
}

/// A tier's position in the program ladder: 0 is the entry tier (Registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[derive(Default)]
pub struct TierRank(pub u8);

/// A tier as partners see it: its rank and name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierBadge {
    /// Position in the ladder, 0 = entry tier.
    pub rank: TierRank,
    /// The tier's name, e.g. `Gold`.
    pub name: String,
}

/// An e-mail address, trimmed and lower-cased so that sign-in ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address: one `@`, a non-empty local part and a dotted domain, no spaces.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else if email.is_empty() {
            Err(FieldError::new(field, "enter an e-mail address"))
        } else {
            Err(FieldError::new(
                field,
                "enter an e-mail address like name@example.com",
            ))
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_round_trips_and_names_the_field() {
        for p in Persona::ALL {
            assert_eq!(Persona::parse(p.as_str(), "persona").unwrap(), *p);
        }
        let err = Persona::parse("ceo", "audience.personas[0]").unwrap_err();
        assert_eq!(err.field, "audience.personas[0]");
        assert!(err.message.contains("unknown persona `ceo`"), "{}", err.message);
        assert_eq!(
            serde_json_string(&PartnerType::TierTwoReseller),
            "\"tier_two_reseller\""
        );
    }

    fn serde_json_string<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn email_addresses_are_normalised() {
        let e = EmailAddress::parse("  Sales@Northwind.TEST ", "email").unwrap();
        assert_eq!(e.as_str(), "sales@northwind.test");
        for bad in ["", "sales", "a@b", "a b@c.d", "@c.d", "a@.d", "a@b@c.d"] {
            assert!(EmailAddress::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_know_their_side() {
        assert!(Role::PartnerAdmin.is_partner());
        assert!(!Role::Finance.is_partner());
        assert!(Role::ContentPublisher.can_publish_content());
        assert!(!Role::ChannelManager.can_publish_content());
    }
}

/// An organisation as shown beside its users: the vendor, or a partner with its type, region,
/// tier and (for tier-two resellers) distributor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganisationSummary {
    /// Identifier.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Vendor or partner.
    pub kind: OrganisationKind,
    /// Partners only.
    pub partner_type: Option<PartnerType>,
    /// Partners only.
    pub region: Option<Region>,
    /// Partners only: the effective tier.
    pub tier: Option<TierBadge>,
    /// Tier-two resellers only: their distributor.
    pub distributor_id: Option<i64>,
}

/// The signed-in user, as the top bar and `GET /api/v1/me` show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// User identifier.
    pub user_id: i64,
    /// E-mail address (the sign-in name).
    pub email: String,
    /// Name shown in greetings.
    pub display_name: String,
    /// What the user may do.
    pub role: Role,
    /// Partner users only: their persona.
    pub persona: Option<Persona>,
    /// The user's organisation.
    pub organisation: OrganisationSummary,
    /// The vendor running the program.
    pub vendor_name: String,
    /// Where the user starts: their persona's room; the studio for publishers and vendor admins;
    /// rebates for finance.
    pub home_path: String,
}
