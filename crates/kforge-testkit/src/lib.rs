//! What kforge's test trees share (dev-only, not published).
//!
//! The hermetic tier (`cargo test --workspace`) uses only [`http`] and
//! [`repo_root`]. The second tier, compiled with each crate's
//! `oracle-tests` feature, uses the rest: the prepared oracles, which
//! fail with the command that prepares them when they are missing.

pub mod http;
pub mod icecream;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root (the workspace), absolute.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A program the tests need that Debian does not package: from
/// `target/tools/venv/bin` (scripts/prepare-tools), `PATH` or
/// `~/.cargo/bin`; panics with `remedy` when none has it.
pub fn tool(name: &str, remedy: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    std::iter::once(repo_root().join("target/tools/venv/bin"))
        .chain(std::env::split_paths(&path))
        .chain(std::iter::once(Path::new(&home).join(".cargo/bin")))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: {remedy}"))
}

/// A TCP port of 127.0.0.1 nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Debian kernel ABI (e.g. `6.1.0-47-amd64`) of the module tree and
/// kernel the tests use: the one line of `scripts/debian-abi` that is not a
/// comment, which `scripts/prepare-modules` reads too.
pub fn debian_abi() -> &'static str {
    include_str!("../../../scripts/debian-abi")
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("scripts/debian-abi names no ABI")
}

/// `$KFORGE_ORACLE` or `<repo>/target/oracle`: the 6.1 and 6.12 kernel
/// trees, their C conf and the environments make gives it, made by
/// `scripts/prepare-oracle`. Panics, naming that command, when a part is
/// missing.
pub fn oracle() -> PathBuf {
    let o = std::env::var_os("KFORGE_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/oracle"));
    for ver in ["6.1", "6.12"] {
        for part in ["conf", "src/Makefile", "env/x86_64.env"] {
            let p = o.join(ver).join(part);
            assert!(
                p.is_file(),
                "no prepared oracle at {}: {} is missing; run scripts/prepare-oracle \
                 (it needs the Debian packages linux-source-6.1 and linux-source-6.12)",
                o.display(),
                p.display()
            );
        }
    }
    o
}

/// The unpacked source tree of Linux `ver` ("6.1" or "6.12") in [`oracle`].
pub fn oracle_tree(ver: &str) -> PathBuf {
    oracle().join(ver).join("src")
}

/// `$KFORGE_MODULES_ORACLE` or `<repo>/target/modules-oracle`: Debian's
/// module tree of [`debian_abi`] (`root/lib/modules/<abi>`) and its .deb
/// (`deb/`), made by `scripts/prepare-modules`. Panics, naming that
/// command, when the tree is missing.
pub fn modules_oracle() -> PathBuf {
    let d = std::env::var_os("KFORGE_MODULES_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/modules-oracle"));
    let d = d.canonicalize().unwrap_or(d);
    let tree = d.join("root/lib/modules").join(debian_abi());
    assert!(
        tree.join("modules.order").is_file(),
        "no Debian module tree at {}: run scripts/prepare-modules",
        tree.display()
    );
    d
}

/// Debian's module tree, `<modules oracle>/root/lib/modules/<abi>`.
pub fn modules_tree() -> PathBuf {
    modules_oracle().join("root/lib/modules").join(debian_abi())
}

/// The Debian kernel package `scripts/prepare-modules` downloaded
/// (`linux-image-<abi>-unsigned_*.deb` in `<modules oracle>/deb`).
pub fn debian_kernel_deb() -> PathBuf {
    let deb = modules_oracle().join("deb");
    let prefix = format!("linux-image-{}-unsigned_", debian_abi());
    let mut found: Vec<PathBuf> = std::fs::read_dir(&deb)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.starts_with(&prefix) && n.ends_with(".deb")
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "no {prefix}*.deb in {}: run scripts/prepare-modules (it downloads it)",
            deb.display()
        )
    })
}

/// kmod's depmod, the oracle for the `depmod` crate.
pub const KMOD_DEPMOD: &str = "/usr/sbin/depmod";

/// [`KMOD_DEPMOD`], checked to exist (Debian's kmod package).
pub fn kmod_depmod() -> &'static Path {
    let p = Path::new(KMOD_DEPMOD);
    assert!(
        p.is_file(),
        "{KMOD_DEPMOD} (kmod) is needed as the oracle: apt-get install kmod"
    );
    p
}

/// A Debian `linux-config-<ver>` file, e.g. `("6.12",
/// "amd64_none_amd64")`: `/usr/src/linux-config-6.12/config.amd64_none_amd64.xz`.
pub fn debian_config(ver: &str, flavour: &str) -> PathBuf {
    let p = PathBuf::from(format!("/usr/src/linux-config-{ver}/config.{flavour}.xz"));
    assert!(
        p.is_file(),
        "{} is missing: apt-get install linux-config-{ver}",
        p.display()
    );
    p
}

/// Debian's config `flavour` (`arm64_none_arm64`, ...) of an architecture
/// other than amd64, for Linux `ver`: from `$KFORGE_DEBIAN_CONFIGS` or
/// `<repo>/target/debian-configs`, which `scripts/prepare-debian-configs`
/// fills; amd64's come from the installed linux-config package.
pub fn debian_config_any(ver: &str, flavour: &str) -> PathBuf {
    if flavour.starts_with("amd64_") {
        return debian_config(ver, flavour);
    }
    let dir = std::env::var_os("KFORGE_DEBIAN_CONFIGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debian-configs"));
    let p = dir.join(format!("{ver}/config.{flavour}.xz"));
    assert!(
        p.is_file(),
        "{} is missing: run scripts/prepare-debian-configs",
        p.display()
    );
    p
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The environment make gave the C conf for `arch` on Linux `ver`
/// (`<oracle>/<ver>/env/<arch>.env`, one `NAME=value` a line).
pub fn captured_env(ver: &str, arch: &str) -> Vec<(String, String)> {
    let f = oracle().join(format!("{ver}/env/{arch}.env"));
    let env = std::fs::read_to_string(&f).unwrap_or_else(|e| {
        panic!(
            "no capture {}: {e}; run scripts/prepare-oracle",
            f.display()
        )
    });
    env.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The C conf of Linux `ver` run in `dir` with `args`, with the
/// environment make gave it for `arch` and `KCONFIG_CONFIG=.config`.
pub fn c_conf(ver: &str, arch: &str, dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(oracle().join(format!("{ver}/conf")));
    c.env_clear().current_dir(dir);
    for (k, v) in captured_env(ver, arch) {
        c.env(k, v);
    }
    c.env("KCONFIG_CONFIG", ".config")
        .args(args)
        .output()
        .unwrap()
}

/// Run the oracle's C conf --olddefconfig on `config` with the environment
/// make gave it for `arch`, and return the .config it writes.
pub fn c_olddefconfig(ver: &str, arch: &str, config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".config"), config).unwrap();
    let out = c_conf(ver, arch, dir.path(), &["-s", "--olddefconfig", "Kconfig"]);
    assert!(out.status.success(), "C conf: {}", text(&out));
    std::fs::read_to_string(dir.path().join(".config")).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), for corrupting files in
/// tests the same way on every run.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The store the real kernel builds and boots share (`XDG_CACHE_HOME` for
/// kforge), kept under `target/` between runs so the QEMU example is
/// built once per CI run however many tests need it.
pub struct SharedStore {
    /// The directory to pass as `XDG_CACHE_HOME`.
    pub cache: PathBuf,
    /// A `PATH` whose `make` records each top-level run (those with `O=`)
    /// in [`SharedStore::make_log`] before running the real one. Every user
    /// of the store passes it: `make`'s path is part of the store key.
    pub path: String,
    /// One line per top-level `make` run, appended by every test: the
    /// process id of the program that started it, then make's arguments.
    pub make_log: PathBuf,
}

impl SharedStore {
    /// The number of top-level `make` runs recorded so far.
    pub fn make_runs(&self) -> usize {
        std::fs::read_to_string(&self.make_log).map_or(0, |s| s.lines().count())
    }

    /// The top-level `make` runs the process `pid` started (tests in other
    /// processes use the store at the same time).
    pub fn make_runs_by(&self, pid: u32) -> usize {
        let prefix = format!("{pid} ");
        std::fs::read_to_string(&self.make_log)
            .map_or(0, |s| s.lines().filter(|l| l.starts_with(&prefix)).count())
    }
}

/// The shared store, its `make` shim written (atomically: tests in other
/// processes may write it at the same moment, with the same bytes).
pub fn shared_store() -> SharedStore {
    let cache = repo_root().join("target/kforge-boot-test-cache");
    place_on_tmpfs(&cache);
    let bin = cache.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let make_log = cache.join("make-runs");
    let path = std::env::var("PATH").unwrap_or_default();
    let real = path
        .split(':')
        .map(|d| Path::new(d).join("make"))
        .find(|p| p.is_file())
        .expect("make is not in PATH: apt-get install make");
    let shim = format!(
        "#!/bin/sh\ncase \" $* \" in *\" O=\"*) echo \"$PPID $*\" >> '{}';; esac\nexec '{}' \"$@\"\n",
        make_log.display(),
        real.display()
    );
    let target = bin.join("make");
    if std::fs::read_to_string(&target).ok().as_deref() != Some(shim.as_str()) {
        use std::os::unix::fs::PermissionsExt;
        let tmp = bin.join(format!(".make.{}", std::process::id()));
        std::fs::write(&tmp, &shim).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &target).unwrap();
    }
    SharedStore {
        path: format!("{}:{path}", bin.display()),
        cache,
        make_log,
    }
}

/// Make `link` (a directory under `target/` that does not exist yet) a
/// symlink to a directory of its own under `/dev/shm` when that is
/// writable: the kernel builds in the shared store create and remove
/// hundreds of thousands of files, which costs far more system time on a
/// disk mounted with `discard` than in memory. A real directory already
/// there is kept; a link whose directory went (a reboot) gets it back.
fn place_on_tmpfs(link: &Path) {
    if link.is_dir() && !link.is_symlink() {
        return;
    }
    // One directory per checkout: two clones never share a store.
    let id: u64 = repo_root()
        .to_string_lossy()
        .bytes()
        .fold(0xcbf29ce484222325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
    let dir = Path::new("/dev/shm").join(format!("kforge-test-store-{id:016x}"));
    if !dir.parent().unwrap().is_dir()
        || std::fs::create_dir_all(&dir).is_err()
        || std::fs::read_link(link).ok().as_deref() == Some(dir.as_path())
    {
        return;
    }
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    let tmp = link.with_extension(format!("link.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&dir, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// Load the `Kconfig` file a test wrote in `dir`, as a tree of `srcarch`
/// (the environment names `srctree` and `SRCARCH`, nothing else; probes
/// run directly), with the engine's messages silenced.
pub fn synthetic_kconfig(dir: &Path, srcarch: &str) -> kconfig_engine::Kconfig {
    let srctree = dir.to_string_lossy().into_owned();
    let srcarch = srcarch.to_string();
    let mut kc = kconfig_engine::Kconfig::load(kconfig_engine::LoadOptions {
        kconfig: "Kconfig".into(),
        env: std::rc::Rc::new(move |k: &str| match k {
            "srctree" => Some(srctree.clone()),
            "SRCARCH" => Some(srcarch.clone()),
            _ => None,
        }),
        shell: Box::new(kconfig_engine::preprocess::DirectShell),
        dialect: None,
    })
    .unwrap_or_else(|e| panic!("{:?}", e.messages));
    kc.silent = true;
    kc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_abi_is_one_debian_release() {
        let abi = super::debian_abi();
        assert!(abi.starts_with("6.") && abi.ends_with("-amd64"), "{abi}");
    }
}
