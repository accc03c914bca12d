//! Kernel version numbers: `6.1`, `6.1.192`, `6.13-rc3`.

use std::fmt;
use std::str::FromStr;

use crate::KernelVersion;

/// Why a string is not a kernel version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseVersionError {
    message: String,
}

impl ParseVersionError {
    fn new(text: &str, why: &str) -> Self {
        ParseVersionError {
            message: format!(
                "invalid kernel version `{text}`: {why} \
                 (expected MAJOR.MINOR, MAJOR.MINOR.PATCH or MAJOR.MINOR-rcN, \
                 e.g. 6.1, 6.1.192, 6.13-rc3)"
            ),
        }
    }
}

impl KernelVersion {
    /// A release `major.minor.patch` (`patch` 0 for `major.minor`).
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
            rc: u32::MAX,
        }
    }

    /// The release candidate `major.minor-rcN`.
    pub const fn rc(major: u32, minor: u32, rc: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch: 0,
            rc,
        }
    }

    /// Is this a release candidate?
    pub const fn is_rc(&self) -> bool {
        self.rc != u32::MAX
    }
}

/// A decimal number without sign or leading zeros.
fn number(part: &str) -> Option<u32> {
    if part.is_empty()
        || !part.bytes().all(|b| b.is_ascii_digit())
        || (part.len() > 1 && part.starts_with('0'))
    {
        return None;
    }
    part.parse().ok()
}

impl FromStr for KernelVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| ParseVersionError::new(s, why);
        if s.starts_with(['v', 'V']) {
            return Err(err("write it without the leading `v`"));
        }
        let (release, rc) = match s.split_once('-') {
            Some((release, suffix)) => {
                let n = suffix
                    .strip_prefix("rc")
                    .ok_or_else(|| err("the only suffix allowed is -rcN"))?;
                let n = number(n).ok_or_else(|| err("-rc must be followed by a number"))?;
                if n == 0 || n == u32::MAX {
                    return Err(err("release candidates are numbered from 1"));
                }
                (release, Some(n))
            }
            None => (s, None),
        };
        let parts: Vec<&str> = release.split('.').collect();
        let nums: Option<Vec<u32>> = parts.iter().map(|p| number(p)).collect();
        let Some(nums) = nums else {
            return Err(err("each part must be a number without leading zeros"));
        };
        match (nums.as_slice(), rc) {
            ([major, minor], None) => Ok(KernelVersion::new(*major, *minor, 0)),
            ([major, minor, patch], None) => Ok(KernelVersion::new(*major, *minor, *patch)),
            ([major, minor], Some(rc)) => Ok(KernelVersion::rc(*major, *minor, rc)),
            ([_, _, _], Some(_)) => Err(err("a release candidate has no third number")),
            _ => Err(err("wrong number of parts")),
        }
    }
}

impl fmt::Display for KernelVersion {
    /// `6.1` for 6.1.0, `6.1.192`, `6.13-rc3`: the kernel's own spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.is_rc() {
            write!(f, "-rc{}", self.rc)
        } else if self.patch != 0 {
            write!(f, ".{}", self.patch)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KernelVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(v("6.1"), KernelVersion::new(6, 1, 0));
        assert_eq!(v("6.1.192"), KernelVersion::new(6, 1, 192));
        assert_eq!(v("6.13-rc3"), KernelVersion::rc(6, 13, 3));
        assert_eq!(v("6.1"), v("6.1.0"));
        assert_eq!(v("6.1.0").to_string(), "6.1");
        assert_eq!(v("6.1.192").to_string(), "6.1.192");
        assert_eq!(v("6.13-rc3").to_string(), "6.13-rc3");
        assert_eq!(v("0.0").to_string(), "0.0");
    }

    #[test]
    fn rc_sorts_before_release() {
        assert!(v("6.13-rc3") < v("6.13"));
        assert!(v("6.13-rc1") < v("6.13-rc3"));
        assert!(v("6.13-rc10") < v("6.13"));
        assert!(v("6.12.99") < v("6.13-rc1"));
        assert!(v("6.13") < v("6.13.1"));
        assert!(v("6.9") < v("6.10"));
        assert!(v("5.19.2") < v("6.0-rc1"));
    }

    #[test]
    fn rejects_everything_else() {
        for (text, why) in [
            ("6", "wrong number of parts"),
            ("6.1.2.3", "wrong number of parts"),
            ("", "each part must be a number"),
            ("6.", "each part must be a number"),
            ("6.01", "leading zeros"),
            ("6.x", "each part must be a number"),
            ("+6.1", "each part must be a number"),
            (" 6.1", "each part must be a number"),
            ("v6.1", "without the leading `v`"),
            ("6.13-rc", "-rc must be followed by a number"),
            ("6.13-rc0", "numbered from 1"),
            ("6.13-rc4294967295", "numbered from 1"),
            ("6.13-pre1", "the only suffix allowed is -rcN"),
            ("6.1.3-rc1", "no third number"),
            ("99999999999.1", "each part must be a number"),
        ] {
            let err = text.parse::<KernelVersion>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid kernel version `{text}`: ")),
                "{err}"
            );
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.ends_with("e.g. 6.1, 6.1.192, 6.13-rc3)"), "{err}");
        }
    }
}
