//! Expiry: presets such as `30d` or `1y`, an exact date, or `never`, checked
//! against a kind's maximum lifetime and, when a token creates a token,
//! against the creating token's own expiry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A span written as `<n>h`, `<n>d`, `<n>w` or `<n>y` (a year is 365 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lifetime {
    seconds: i64,
    unit: char,
    count: u32,
}

impl Lifetime {
    pub fn days(count: u32) -> Self {
        Self::new(count, 'd').expect("small day counts are valid")
    }

    fn new(count: u32, unit: char) -> Option<Self> {
        let unit_seconds: i64 = match unit {
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            'y' => 365 * 86_400,
            _ => return None,
        };
        // Ten years is far past any sensible token lifetime; beyond it is a typo.
        let seconds = unit_seconds.checked_mul(i64::from(count))?;
        (count > 0 && seconds <= 10 * 365 * 86_400).then_some(Self {
            seconds,
            unit,
            count,
        })
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(self.seconds)
    }
}

impl FromStr for Lifetime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || {
            format!("\"{s}\" is not a lifetime: write a number and a unit, such as 7d, 12h, 2w or 1y (at most 10y)")
        };
        let unit = s.chars().last().ok_or_else(error)?;
        let count: u32 = s[..s.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| error())?;
        Lifetime::new(count, unit).ok_or_else(error)
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit)
    }
}

impl Serialize for Lifetime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One entry of a kind's expiry menu: a lifetime or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    After(Lifetime),
    Never,
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "never" {
            Ok(Preset::Never)
        } else {
            s.parse().map(Preset::After)
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preset::After(l) => l.fmt(f),
            Preset::Never => f.write_str("never"),
        }
    }
}

impl Serialize for Preset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Preset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A kind's expiry rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryPolicy {
    /// What a person may pick from, in menu order.
    pub presets: Vec<Preset>,
    /// What a token gets when the request names no expiry; one of the presets.
    pub default: Preset,
    /// No token of the kind may live longer; `None` allows `never`.
    pub max_lifetime: Option<Lifetime>,
}

impl ExpiryPolicy {
    /// Checks the policy is self-consistent: the default is offered, and no
    /// preset exceeds the maximum.
    pub fn validate(&self) -> Result<(), String> {
        if !self.presets.contains(&self.default) {
            return Err(format!(
                "the default expiry \"{}\" is not one of the presets",
                self.default
            ));
        }
        if let Some(max) = self.max_lifetime {
            for preset in &self.presets {
                match preset {
                    Preset::Never => {
                        return Err(format!(
                            "the preset \"never\" contradicts the maximum lifetime {max}"
                        ))
                    }
                    Preset::After(l) if *l > max => {
                        return Err(format!(
                            "the preset \"{l}\" is longer than the maximum lifetime {max}"
                        ))
                    }
                    Preset::After(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl Default for ExpiryPolicy {
    /// GitHub's menu, 30 days preselected, no maximum.
    fn default() -> Self {
        Self {
            presets: ["7d", "30d", "60d", "90d", "180d", "1y", "never"]
                .iter()
                .map(|p| p.parse().expect("valid presets"))
                .collect(),
            default: Preset::After(Lifetime::days(30)),
            max_lifetime: None,
        }
    }
}

/// What a create request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryRequest {
    /// Nothing: the kind's default.
    Default,
    /// A preset by name, e.g. `"90d"` or `"never"`.
    Preset(String),
    /// An exact moment.
    At(OffsetDateTime),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expires_in must be one of: {allowed}.")]
    UnknownPreset { allowed: String },
    #[error("expires_at must be in the future.")]
    InPast,
    #[error("expires_at must be at most {max} from now.")]
    BeyondMaximum { max: Lifetime },
    #[error(
        "{field} must not be later than the expiry of the token making this request ({ceiling})."
    )]
    BeyondCreator {
        field: &'static str,
        ceiling: String,
    },
}

impl ExpiryError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ExpiryError::UnknownPreset { .. } => "expires_in",
            ExpiryError::InPast | ExpiryError::BeyondMaximum { .. } => "expires_at",
            ExpiryError::BeyondCreator { field, .. } => field,
        }
    }
}

/// Turns a request into an expiry moment (`None`: never expires).
///
/// `ceiling` is the expiry of the credential making the request when that is
/// a token: a token may not mint one that outlives it.
pub fn resolve(
    request: &ExpiryRequest,
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
    ceiling: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, ExpiryError> {
    let (field, expires_at) = match request {
        // Asking for nothing gets the default, shortened to fit under the
        // ceiling: only an explicit request can be refused for exceeding it.
        ExpiryRequest::Default => {
            let default = at(policy.default, now);
            let fitted = match (default, ceiling) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (None, Some(c)) => Some(c),
                (d, None) => d,
            };
            ("expires_in", fitted)
        }
        ExpiryRequest::Preset(name) => {
            let preset = policy
                .presets
                .iter()
                .find(|p| p.to_string() == *name)
                .ok_or_else(|| ExpiryError::UnknownPreset {
                    allowed: policy
                        .presets
                        .iter()
                        .map(|p| format!("\"{p}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            ("expires_in", at(*preset, now))
        }
        ExpiryRequest::At(moment) => {
            if *moment <= now {
                return Err(ExpiryError::InPast);
            }
            if let Some(max) = policy.max_lifetime {
                if *moment > now + max.duration() {
                    return Err(ExpiryError::BeyondMaximum { max });
                }
            }
            ("expires_at", Some(*moment))
        }
    };
    if let Some(ceiling) = ceiling {
        if expires_at.is_none_or(|e| e > ceiling) {
            return Err(ExpiryError::BeyondCreator {
                field,
                ceiling: ceiling
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            });
        }
    }
    Ok(expires_at)
}

fn at(preset: Preset, now: OffsetDateTime) -> Option<OffsetDateTime> {
    match preset {
        Preset::After(l) => Some(now + l.duration()),
        Preset::Never => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn capped(max: &str) -> ExpiryPolicy {
        ExpiryPolicy {
            presets: vec!["7d".parse().unwrap(), "90d".parse().unwrap()],
            default: "90d".parse().unwrap(),
            max_lifetime: Some(max.parse().unwrap()),
        }
    }

    #[test]
    fn lifetimes_parse_and_print() {
        assert_eq!("30d".parse::<Lifetime>().unwrap().to_string(), "30d");
        assert_eq!(
            "1y".parse::<Lifetime>().unwrap().duration(),
            Duration::days(365)
        );
        for bad in ["", "d", "0d", "30", "30x", "-1d", "11y", "1é"] {
            assert!(bad.parse::<Lifetime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_policy_is_consistent() {
        ExpiryPolicy::default().validate().unwrap();
        assert!(capped("30d").validate().is_err());
        let mut never_with_max = capped("1y");
        never_with_max.presets.push(Preset::Never);
        assert!(never_with_max.validate().is_err());
    }

    #[test]
    fn presets_resolve_from_now() {
        let p = ExpiryPolicy::default();
        assert_eq!(
            resolve(&ExpiryRequest::Default, &p, NOW, None),
            Ok(Some(NOW + Duration::days(30)))
        );
        assert_eq!(
            resolve(&ExpiryRequest::Preset("never".into()), &p, NOW, None),
            Ok(None)
        );
        let err = resolve(&ExpiryRequest::Preset("2d".into()), &p, NOW, None).unwrap_err();
        assert_eq!(err.field(), "expires_in");
        assert!(err.to_string().contains("\"7d\""));
    }

    #[test]
    fn exact_dates_must_be_future_and_within_maximum() {
        let p = capped("1y");
        assert_eq!(
            resolve(&ExpiryRequest::At(NOW), &p, NOW, None),
            Err(ExpiryError::InPast)
        );
        let far = NOW + Duration::days(400);
        assert!(matches!(
            resolve(&ExpiryRequest::At(far), &p, NOW, None),
            Err(ExpiryError::BeyondMaximum { .. })
        ));
        let ok = NOW + Duration::days(100);
        assert_eq!(resolve(&ExpiryRequest::At(ok), &p, NOW, None), Ok(Some(ok)));
    }

    #[test]
    fn a_token_cannot_mint_one_that_outlives_it() {
        let p = ExpiryPolicy::default();
        let ceiling = Some(NOW + Duration::days(10));
        assert!(resolve(&ExpiryRequest::Preset("never".into()), &p, NOW, ceiling).is_err());
        assert!(resolve(&ExpiryRequest::Preset("30d".into()), &p, NOW, ceiling).is_err());
        assert!(resolve(&ExpiryRequest::Preset("7d".into()), &p, NOW, ceiling).is_ok());
        assert_eq!(
            resolve(&ExpiryRequest::Default, &p, NOW, ceiling),
            Ok(ceiling)
        );
    }
}
