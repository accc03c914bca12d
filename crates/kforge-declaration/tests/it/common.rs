//! Declarations written to a temporary directory, and assertions on errors.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kforge_declaration::{KernelVersion, Spec, SpecError};

/// `[source]` and `[build]` in four lines: what follows starts on line 5.
pub const HEAD: &str = "[source]\nversion = \"6.1\"\n[build]\narch = \"x86_64\"\n";

pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Write `text` to `name` (directories created as needed).
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn load(&self, name: &str) -> Result<Spec, SpecError> {
        Spec::load(&self.path().join(name))
    }

    /// Write `kernel.toml` and load it, expecting success.
    pub fn spec(&self, text: &str) -> Spec {
        self.write("kernel.toml", text);
        match self.load("kernel.toml") {
            Ok(spec) => spec,
            Err(e) => panic!("{e}\nhelp: {:?}", e.help()),
        }
    }

    /// Write `kernel.toml` and load it, expecting an error.
    pub fn error(&self, text: &str) -> SpecError {
        self.write("kernel.toml", text);
        self.load("kernel.toml")
            .expect_err("the declaration should not load")
    }

    /// `text` with this directory written as `$DIR`.
    pub fn relative(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "$DIR")
    }

    /// An error at one place: file name (relative to the directory), line,
    /// column, message (`$DIR` for the directory) and help.
    #[track_caller]
    pub fn assert_at(
        &self,
        err: &SpecError,
        place: (&str, u32, u32),
        message: &str,
        help: Option<&str>,
    ) {
        let SpecError::At {
            origin,
            message: m,
            help: h,
        } = err
        else {
            panic!("expected an error at a place, got {err:?}");
        };
        let file = self.relative(&origin.file.display().to_string());
        assert_eq!(
            (file.as_str(), origin.line, origin.column),
            (format!("$DIR/{}", place.0).as_str(), place.1, place.2),
            "place of: {m}"
        );
        assert_eq!(self.relative(m), message);
        assert_eq!(h.as_deref(), help, "help of: {m}");
        // The Display form starts with the place.
        assert!(err.to_string().starts_with(&format!(
            "{}:{}:{}: ",
            origin.file.display(),
            place.1,
            place.2
        )));
    }
}

pub fn v(s: &str) -> KernelVersion {
    s.parse().unwrap()
}
