//! [`SourceError`]: everything that can go wrong between a declaration and a
//! prepared tree.

use std::path::PathBuf;

/// `origin: ` before a message, when the place in the declaration is known.
fn at(origin: &Option<String>) -> String {
    origin.as_ref().map_or(String::new(), |o| format!("{o}: "))
}

/// Each problem on its own indented line.
fn lines(items: &[String]) -> String {
    items.iter().map(|i| format!("\n  {i}")).collect()
}

/// Output of a tool, indented under the message (or a note that there was none).
fn indented(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return "\n  (no output)".into();
    }
    text.lines().map(|l| format!("\n  | {l}")).collect()
}

/// Why the source could not be fetched, unpacked, patched or prepared.
///
/// Every message names the file, URL or archive entry concerned and, where
/// there is one, the remedy. `origin` fields hold the place in the
/// declaration (`kernel.toml:3:1`) when the item came from one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `[source]` names neither a tarball nor a URL.
    #[error("{}[source] names neither `tarball` nor `url`, so there is no source to prepare\n  help: add `tarball = \"path/to/linux-X.Y.tar.xz\"` or `url = \"https://...\"` with its `hash`", at(.origin))]
    NoSource {
        /// Where `[source]` is.
        origin: Option<String>,
    },
    /// A download without a declared hash: it could not be verified.
    #[error("{}{what} ({url}) has no `hash`: a download is only used when its hash is declared\n  help: add its `hash`: `sha256:` followed by what `nix-prefetch-url {url}` prints, or the SRI form (`sha256-<base64>`) of a published SHA-256", at(.origin))]
    MissingHash {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The URL.
        url: String,
    },
    /// A hash that is not `sha256-<base64>` or `sha256:<nix-base32>`.
    #[error("{}{what}: invalid hash `{hash}`\n  help: write the SHA-256 as `sha256-<base64>` (SRI) or `sha256:<nix-base32>`", at(.origin))]
    InvalidHash {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The hash as written.
        hash: String,
    },
    /// The content does not have the declared hash. Nothing was kept.
    #[error("{}{what} ({location}) does not match its declared hash\n  declared: {declared}\n  actual:   {actual}\n  nothing was kept\n  help: if this is the file you mean, declare the actual hash; otherwise point to the right file", at(.origin))]
    HashMismatch {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The path or URL.
        location: String,
        /// The hash as declared.
        declared: String,
        /// The actual SHA-256, in SRI.
        actual: String,
    },
    /// A declared local file that cannot be read.
    #[error("{}{what} ({}) cannot be read: {source}\n  help: check the path (a relative path is relative to the file that declares it)", at(.origin), path.display())]
    Unreadable {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done ("read", "create the directory", ...).
        action: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The download failed on the way (connection, TLS, truncated body).
    #[error("{}downloading {what} from {url} failed: {reason}{}\n  help: check the URL and the network, then run again", at(.origin), kept_note(*.kept, .part))]
    Download {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
        /// Bytes kept in `part` for a resumed download (0: none).
        kept: u64,
        /// The partial download.
        part: PathBuf,
    },
    /// The server answered with an error status.
    #[error("{}downloading {what} from {url} failed: the server answered HTTP {status}\n  help: {}", at(.origin), status_help(*.status))]
    HttpStatus {
        /// Where the item is declared.
        origin: Option<String>,
        /// "the source tarball", "patch `name`".
        what: String,
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// An archive entry that would write outside the tree or is not a
    /// plain file, directory or link (nothing was unpacked).
    #[error("{}: refusing to unpack entry `{entry}`: {reason}; nothing was unpacked\n  help: this is not a plain source archive; check that it is the file you mean", archive.display())]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's path as stored in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An archive that cannot be read (corrupt, truncated, unknown format).
    #[error("{}: {}{reason}; nothing was unpacked\n  help: the file may be truncated or not a tar archive (.tar, .tar.xz, .tar.gz, .tar.zst, .tar.bz2); fetch it again", archive.display(), entry.as_ref().map_or(String::new(), |e| format!("entry `{e}`: ")))]
    Archive {
        /// The archive.
        archive: PathBuf,
        /// The entry being read, when known.
        entry: Option<String>,
        /// What went wrong.
        reason: String,
    },
    /// `unpack` was asked to write into a place that already exists.
    #[error("{}: already exists; unpacking needs a new directory\n  help: remove it or unpack elsewhere", path.display())]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// A compressed patch that cannot be decompressed.
    #[error("patch `{name}` ({}): cannot decompress it: {reason}\n  help: the file may be truncated; fetch it again", path.display())]
    PatchDecompress {
        /// The patch's name.
        name: String,
        /// The patch file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The `patch` program could not be run.
    #[error("cannot run `patch` for patch `{name}`: {source}\n  help: install GNU patch (e.g. `apt-get install patch`)")]
    PatchTool {
        /// The patch being applied.
        name: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A patch that does not apply. With `unchanged`, the dry run caught it
    /// and the tree is as it was before this patch.
    #[error("patch `{name}` ({}) does not apply to {}:{}\n  {}\n  patch's output:{}", path.display(), tree.display(), lines(.failures), if *.unchanged { "nothing was changed by this patch; help: refresh the patch against this source, or check its `strip` level" } else { "the tree may be partly patched; help: prepare it again from the archive" }, indented(.output))]
    PatchFailed {
        /// The patch's name (from the declaration).
        name: String,
        /// The patch file.
        path: PathBuf,
        /// The tree it was applied to.
        tree: PathBuf,
        /// One line per problem: `file: hunk #2 FAILED at 120`.
        failures: Vec<String>,
        /// Everything `patch` printed.
        output: String,
        /// True when the tree was left untouched by this patch.
        unchanged: bool,
    },
    /// `post_patch` could not be started.
    #[error("cannot run post_patch with /bin/sh in {}: {source}", tree.display())]
    PostPatchSpawn {
        /// The tree it was to run in.
        tree: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// `post_patch` exited with a failure.
    #[error("post_patch failed in {} ({status}); its output:{}\n  help: the snippet runs with /bin/sh -c in the source tree, with only PATH=/usr/bin:/bin, HOME=/nonexistent, LC_ALL=C, TZ=UTC and KFORGE_SRCTREE set", tree.display(), indented(.output))]
    PostPatch {
        /// The tree it ran in.
        tree: PathBuf,
        /// `exit code 3` or `killed by signal 9`.
        status: String,
        /// The exit code, if it exited.
        code: Option<i32>,
        /// Standard output and error, interleaved as printed.
        output: String,
    },
}

fn kept_note(kept: u64, part: &std::path::Path) -> String {
    if kept == 0 {
        String::new()
    } else {
        format!(
            "\n  the {kept} bytes received are kept in {} and the download resumes from there next time",
            part.display()
        )
    }
}

fn status_help(status: u16) -> &'static str {
    match status {
        404 | 410 => "the file is not there: check the URL (kernel.org moves old releases only rarely, but mirrors differ)",
        401 | 403 => "the server refuses access: check the URL",
        500..=599 => "the server has a problem: try again later or use another mirror",
        _ => "check the URL",
    }
}

impl SourceError {
    /// A [`SourceError::Io`] for `path`.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SourceError::Io {
            path,
            action,
            source,
        }
    }
}
