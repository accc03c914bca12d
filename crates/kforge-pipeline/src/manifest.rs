//! A store entry's `manifest.json`, typed: written by the build, read back
//! by every consumer (boot tests, gc, a binary cache) through
//! [`Manifest::read`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a store entry holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The kforge that built it.
    pub kforge_version: String,
    /// The entry's directory name.
    pub entry: String,
    /// The store key, and its inputs in order.
    pub key: String,
    pub key_inputs: Vec<(String, String)>,
    /// The declaration.
    pub spec: SpecFile,
    pub source: Source,
    /// SHA-256 of the resolved `.config`.
    pub config_sha256: String,
    /// `include/config/kernel.release`.
    pub kernel_release: String,
    pub arch: String,
    pub srcarch: String,
    /// The kernel image, relative to the entry (`kernel/bzImage`).
    pub image: Option<String>,
    /// The image, relative to the build directory.
    pub image_path: Option<String>,
    /// The files of `kernel/`.
    pub kernel_files: Vec<String>,
    /// The make targets built.
    pub targets: Vec<String>,
    /// make's arguments.
    pub make: Vec<String>,
    pub build_directory: String,
    pub build_directory_key: String,
    /// The reproducibility environment.
    pub environment: BTreeMap<String, String>,
    pub toolchain: Vec<Tool>,
    pub features: Features,
    /// Seconds per step (olddefconfig, build, install).
    pub durations_s: BTreeMap<String, f64>,
    /// What the compile cache (`[build] launcher = "sccache"`) did during
    /// the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_cache: Option<CompileCache>,
    /// The out-of-tree modules built with the kernel, in build order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub externals: Vec<External>,
    /// Every file of the entry but the manifest, with its hash.
    pub files: Vec<FileHash>,
}

/// A compile cache's counts over one build (sccache's `--show-stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileCache {
    /// The launcher (`sccache`).
    pub launcher: String,
    /// Where it keeps objects (`s3, name: kernels, prefix: /`).
    pub location: String,
    /// Compiles asked of it, found in it, not found, failed reads/writes.
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
}

/// The declaration an entry was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecFile {
    pub path: String,
    pub sha256: String,
}

/// The source tree an entry was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub tree: String,
    pub digest: String,
    pub patches_sha256: Vec<String>,
    pub kernel_version: String,
}

/// An out-of-tree module (`[external.NAME]`) of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct External {
    pub name: String,
    /// `archive:<sha256>` or `path:<sha256>`: its source.
    pub source: String,
    /// Its modules, relative to the entry.
    pub modules: Vec<String>,
}

/// A tool of the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub role: String,
    pub command: String,
    pub path: Option<String>,
    pub version: String,
}

/// What the configuration turned on that changes the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub modules: bool,
    pub efi_stub: bool,
    pub ia32_emulation: bool,
    pub rust: bool,
    pub btf: bool,
    pub btf_modules: bool,
    pub of: bool,
}

/// One file of the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read the manifest: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a kforge manifest: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

impl Manifest {
    /// The manifest's file name in an entry.
    pub const FILE: &'static str = "manifest.json";

    /// Read `entry/manifest.json`.
    pub fn read(entry: &Path) -> Result<Manifest, ManifestError> {
        let path = entry.join(Self::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Parse { path, source })
    }

    /// The JSON text written into an entry.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

impl From<&kforge_store::Features> for Features {
    fn from(f: &kforge_store::Features) -> Self {
        Features {
            modules: f.modules,
            efi_stub: f.efi_stub,
            ia32_emulation: f.ia32_emulation,
            rust: f.rust,
            btf: f.btf,
            btf_modules: f.btf_modules,
            of: f.of,
        }
    }
}

impl From<&kforge_store::FileHash> for FileHash {
    fn from(f: &kforge_store::FileHash) -> Self {
        FileHash {
            path: f.path.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            link: f.link.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_as_written_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest {
            kforge_version: "0.1.0".into(),
            entry: "abc-6.12.0-x86_64".into(),
            key: "abc".into(),
            key_inputs: vec![("arch".into(), "x86_64".into())],
            spec: SpecFile {
                path: "kernel.toml".into(),
                sha256: "00".into(),
            },
            source: Source {
                tree: "/t".into(),
                digest: "tree:1".into(),
                patches_sha256: vec![],
                kernel_version: "6.12.0".into(),
            },
            config_sha256: "11".into(),
            kernel_release: "6.12.0".into(),
            arch: "x86_64".into(),
            srcarch: "x86".into(),
            image: Some("kernel/bzImage".into()),
            image_path: Some("arch/x86/boot/bzImage".into()),
            kernel_files: vec!["bzImage".into()],
            targets: vec!["bzImage".into()],
            make: vec!["make".into()],
            build_directory: "/b".into(),
            build_directory_key: "k".into(),
            environment: BTreeMap::new(),
            toolchain: vec![],
            features: Features {
                modules: true,
                efi_stub: false,
                ia32_emulation: false,
                rust: false,
                btf: false,
                btf_modules: false,
                of: false,
            },
            durations_s: BTreeMap::from([("build".into(), 1.5)]),
            compile_cache: None,
            externals: vec![External {
                name: "hello".into(),
                source: "path:00".into(),
                modules: vec!["modules/lib/modules/6.1.0/extra/hello/hello.ko".into()],
            }],
            files: vec![FileHash {
                path: "kernel/bzImage".into(),
                size: 3,
                sha256: "22".into(),
                link: None,
            }],
        };
        std::fs::write(dir.path().join(Manifest::FILE), m.to_json()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        // No "link" key for a plain file, as before the typed manifest.
        assert!(!m.to_json().contains("\"link\""));
        std::fs::write(dir.path().join(Manifest::FILE), "{\"entry\": 1}").unwrap();
        let e = Manifest::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("manifest.json: not a kforge manifest"), "{e}");
        let e = Manifest::read(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the manifest"), "{e}");
    }
}
