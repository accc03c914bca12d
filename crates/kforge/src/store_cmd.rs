//! `kforge store`: signing keys, and store entries pushed to and pulled
//! from binary caches (kforge-binary-cache, through kforge-pipeline's
//! `substitute`).

use std::path::PathBuf;

use kforge_binary_cache::{Cache, PublicKey};
use kforge_pipeline::substitute;
use kforge_store::Store;

/// Signing keys, and store entries pushed to and pulled from binary caches.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum StoreCmd {
    /// Make a signing key pair: NAME.secret (mode 0600) and NAME.public;
    /// an existing file is never replaced
    Keygen {
        /// The key's name (e.g. cache.example.org-1)
        name: String,
        /// The directory to write the two files in
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Push store entries to a binary cache (s3://, file://), signed
    Push {
        /// An entry (its name, or a path into it such as ./result), then
        /// the cache URL; with --all, the cache URL alone
        #[arg(value_name = "ENTRY|DEST", num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// Push every entry of the store
        #[arg(long)]
        all: bool,
        /// The secret key to sign with (NAME.secret from `kforge store
        /// keygen`); default: the file `KFORGE_SIGNING_KEY` names
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Fetch an entry from a binary cache into the store, its signature,
    /// size and SHA-256 verified
    Pull {
        /// The entry's name, or its store key (32 hex digits; the cache
        /// must list its objects: s3:// or file://)
        #[arg(value_name = "KEY")]
        key: String,
        /// The cache URL (s3://, https://, http://, file://)
        #[arg(value_name = "SRC")]
        src: String,
        /// A public key to trust (NAME:BASE64, repeatable); default: the
        /// declaration's `[store] trusted_keys`
        #[arg(long = "trusted-key", value_name = "NAME:BASE64")]
        trusted: Vec<String>,
        /// The declaration whose `[store] trusted_keys` to trust (default:
        /// ./kernel.toml when there is one and no --trusted-key is given)
        #[arg(long, value_name = "KERNEL_TOML")]
        spec: Option<PathBuf>,
    },
}

/// `kforge store`.
pub fn run(args: StoreArgs) -> i32 {
    let store = Store::new(kforge_store::default_cache_root());
    let r = match args.command {
        StoreCmd::Keygen { name, dir } => keygen(&name, &dir),
        StoreCmd::Push { args, all, key } => substitute::signing_key(key)
            .map_err(fail)
            .and_then(|key| push(&store, &args, all, &key)),
        StoreCmd::Pull {
            key,
            src,
            trusted,
            spec,
        } => pull(&store, &key, &src, &trusted, spec),
    };
    match r {
        Ok(()) => 0,
        Err(msg) => {
            eprint!("{msg}");
            1
        }
    }
}

fn fail(e: impl Into<kforge_pipeline::Error>) -> String {
    kforge_diagnostics::errors::error(&e.into())
}

fn keygen(name: &str, dir: &std::path::Path) -> Result<(), String> {
    let files = kforge_binary_cache::keygen(dir, name).map_err(fail)?;
    out!("{}", kforge_diagnostics::cache::keygen(&files));
    Ok(())
}

fn push(store: &Store, args: &[String], all: bool, key: &std::path::Path) -> Result<(), String> {
    let (entries, dest) = match (all, args) {
        (true, [dest]) => (
            kforge_binary_cache::local_entries(store).map_err(fail)?,
            dest.clone(),
        ),
        (false, [entry, dest]) => (vec![entry.clone()], dest.clone()),
        (true, _) => {
            return Err(
                "error: with --all, give the cache URL alone: kforge store push --all DEST --key FILE\n"
                    .into(),
            )
        }
        (false, _) => {
            return Err(
                "error: give an entry and the cache URL: kforge store push ENTRY DEST --key FILE (or --all DEST)\n"
                    .into(),
            )
        }
    };
    if entries.is_empty() {
        eprintln!(
            "kforge: the store {} has no entries: nothing to push",
            store.store_dir().display()
        );
    }
    for entry in entries {
        let (name, pushed) = substitute::push(store, &entry, &dest, key).map_err(fail)?;
        eprintln!(
            "{}",
            kforge_diagnostics::cache::pushed(&name, &dest, &pushed)
        );
    }
    Ok(())
}

fn pull(
    store: &Store,
    key: &str,
    src: &str,
    trusted: &[String],
    spec: Option<PathBuf>,
) -> Result<(), String> {
    let mut keys = Vec::new();
    for t in trusted {
        keys.push(PublicKey::parse(t).map_err(|why| {
            format!("error: --trusted-key `{t}` is not a public key: {why}\n  = help: give the text of a NAME.public file that `kforge store keygen NAME` wrote\n")
        })?);
    }
    let spec = spec.or_else(|| {
        let default = PathBuf::from("kernel.toml");
        (trusted.is_empty() && default.is_file()).then_some(default)
    });
    if let Some(path) = spec {
        let spec = kforge_declaration::Spec::load(&path).map_err(fail)?;
        keys.extend(substitute::Substituters::from_spec(&spec).trusted);
    }
    if keys.is_empty() {
        return Err("error: no trusted key: pass --trusted-key NAME:BASE64, or --spec KERNEL_TOML with [store] trusted_keys\n".into());
    }
    let cache = Cache::open(src).map_err(fail)?;
    let name = if kforge_binary_cache::check_entry_name(key).is_ok() {
        key.to_string()
    } else {
        match cache.find(key).map_err(fail)?.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(fail(kforge_binary_cache::Error::Missing {
                    url: src.to_string(),
                    name: key.to_string(),
                }))
            }
            many => {
                return Err(format!(
                    "error: {src} has {} entries of key {key}: {}; give the whole name\n",
                    many.len(),
                    many.join(", ")
                ))
            }
        }
    };
    let pulled = cache.pull(store, &name, &keys).map_err(fail)?;
    eprintln!("{}", kforge_diagnostics::cache::pulled(src, &pulled));
    outln!("{}", pulled.path.display());
    Ok(())
}
