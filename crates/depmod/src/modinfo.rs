//! `.modinfo`: NUL-separated `key=value` strings.

use std::borrow::Cow;

/// One `.modinfo` entry. A string without `=` is a key whose value is the
/// key itself (libkmod's reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key (`alias`, `depends`, ...).
    pub key: Box<[u8]>,
    /// The value.
    pub value: Box<[u8]>,
}

/// A module's `.modinfo`, entries in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modinfo {
    /// All entries, in order.
    pub entries: Vec<Entry>,
}

/// A `softdep=` value: modules to load before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Softdep {
    /// `pre:` modules.
    pub pre: Vec<String>,
    /// `post:` modules.
    pub post: Vec<String>,
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl Modinfo {
    /// Build from the strings of the `.modinfo` section.
    pub fn from_strings<S: AsRef<[u8]>>(strings: &[S]) -> Modinfo {
        let entries = strings
            .iter()
            .map(|s| {
                let s = s.as_ref();
                match s.iter().position(|&c| c == b'=') {
                    Some(i) => Entry {
                        key: s[..i].into(),
                        value: s[i + 1..].into(),
                    },
                    None => Entry {
                        key: s.into(),
                        value: s.into(),
                    },
                }
            })
            .collect();
        Modinfo { entries }
    }

    /// Parse a raw `.modinfo` section.
    pub fn parse(section: &[u8]) -> Modinfo {
        Modinfo::from_strings(&crate::elf::split_strings(section))
    }

    /// Values of `key`, in order, as raw bytes.
    pub fn values_raw<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |e| &*e.key == key.as_bytes())
            .map(|e| &*e.value)
    }

    /// Values of `key`, in order (lossy UTF-8).
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        self.values_raw(key).map(text)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.entries
            .iter()
            .find(|e| &*e.key == key.as_bytes())
            .map(|e| text(&e.value))
    }

    /// `alias=` values.
    pub fn aliases(&self) -> Vec<String> {
        self.values("alias").map(Cow::into_owned).collect()
    }

    /// `firmware=` values.
    pub fn firmware(&self) -> Vec<String> {
        self.values("firmware").map(Cow::into_owned).collect()
    }

    /// `vermagic=`.
    pub fn vermagic(&self) -> Option<String> {
        self.get("vermagic").map(Cow::into_owned)
    }

    /// `name=` (the module's own idea of its name).
    pub fn name(&self) -> Option<String> {
        self.get("name").map(Cow::into_owned)
    }

    /// `license=`.
    pub fn license(&self) -> Option<String> {
        self.get("license").map(Cow::into_owned)
    }

    /// `depends=`: the modules modpost found this one needs
    /// (comma-separated; depmod itself derives dependencies from symbols).
    pub fn depends(&self) -> Vec<String> {
        self.values("depends")
            .flat_map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `softdep=` values, parsed as modprobe does: `pre:` and `post:`
    /// switch the list the following names go to.
    pub fn softdeps(&self) -> Vec<Softdep> {
        self.values("softdep").map(|v| parse_softdep(&v)).collect()
    }

    /// `weakdep=` values (kernels from 6.10 on; kmod 30 ignores them).
    pub fn weakdeps(&self) -> Vec<String> {
        self.values("weakdep").map(Cow::into_owned).collect()
    }
}

/// Parse one `softdep` value (`pre: a b post: c`).
pub fn parse_softdep(v: &str) -> Softdep {
    let mut sd = Softdep::default();
    let mut post = None;
    for tok in v.split_ascii_whitespace() {
        match tok {
            "pre:" => post = Some(false),
            "post:" => post = Some(true),
            t => match post {
                Some(false) => sd.pre.push(t.to_string()),
                Some(true) => sd.post.push(t.to_string()),
                None => {}
            },
        }
    }
    sd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_entries() {
        let m = Modinfo::parse(
            b"\0alias=pci:v1\0depends=a,b\0softdep=pre: x y post: z\0odd\0alias=usb:v2\0",
        );
        assert_eq!(m.aliases(), vec!["pci:v1", "usb:v2"]);
        assert_eq!(m.depends(), vec!["a", "b"]);
        let sd = &m.softdeps()[0];
        assert_eq!(sd.pre, vec!["x", "y"]);
        assert_eq!(sd.post, vec!["z"]);
        assert_eq!(m.get("odd").as_deref(), Some("odd"));
    }
}
