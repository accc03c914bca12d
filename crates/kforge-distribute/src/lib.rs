//! Compiling on the build farms a site already runs: icecream (a scheduler
//! and its daemons) and distcc (a list of hosts).
//!
//! kforge schedules nothing itself. For a build it finds the farm, checks
//! that it answers, and gives make what the farm needs: the launcher put
//! before the compiler (`icecc`, `distcc`), the environment (icecream's
//! `ICECC_VERSION`, the compiler packed by `icecc-create-env`) and the
//! number of jobs the farm takes at once. When the farm does not answer,
//! [`Unavailable`] says why and the build compiles locally: the output is
//! the same either way, so the store key does not depend on it.
//!
//! Icecream's scheduler is found as its daemon finds it: `USE_SCHEDULER`
//! (`host[:port]`), else `ICECC_SCHEDULER_HOST` in `/etc/icecc/icecc.conf`,
//! else `localhost`, port 8765; its text interface (`listcs`) listens on the
//! next port and lists the compile hosts with their job slots.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kforge_store::which;

pub mod compile_cache;

/// The farm engines kforge can hand compiles to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// icecream: `icecc` before the compiler, a scheduler placing the jobs.
    Icecream,
    /// distcc: `distcc` before the compiler, `DISTCC_HOSTS` naming the hosts.
    Distcc,
}

/// What make needs to compile on a farm that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Farm {
    pub engine: Engine,
    /// The launcher put before the compiler (`icecc`, `distcc`).
    pub launcher: String,
    /// Variables for make's environment (`ICECC_VERSION`).
    pub env: Vec<(String, String)>,
    /// How many compiles the farm takes at once: the sum of its hosts' slots.
    pub jobs: usize,
    /// The compile hosts, as the scheduler or the host list names them.
    pub hosts: Vec<Host>,
}

/// One compile host of a farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its name (icecream's node name, or distcc's host).
    pub name: String,
    /// `address:port` where it takes jobs.
    pub address: String,
    /// The compiles it runs at once.
    pub slots: usize,
}

/// Why a build compiles locally instead of on the farm.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("`{program}` is not in PATH (apt-get install {package})")]
    NotInstalled {
        program: &'static str,
        package: &'static str,
    },
    #[error("no icecream scheduler answers at {address} ({source}); set USE_SCHEDULER=host[:port] to the farm's scheduler")]
    NoScheduler {
        address: String,
        source: std::io::Error,
    },
    #[error("the icecream scheduler at {address} lists no compile hosts")]
    NoHosts { address: String },
    #[error("no icecream daemon runs on this machine (neither {socket} nor 127.0.0.1:10245 answers); start iceccd")]
    NoDaemon { socket: String },
    #[error("cannot pack the compiler {compiler} for icecream: {message}")]
    Environment { compiler: PathBuf, message: String },
    #[error("no distcc hosts: set DISTCC_HOSTS or write them in ~/.distcc/hosts")]
    NoDistccHosts,
    #[error("no distcc host answers ({hosts})")]
    NoDistccAnswer { hosts: String },
}

/// Where to look: the environment and the files a farm's own tools read.
pub struct Site<'a> {
    /// Reads an environment variable.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// `PATH`, to find `icecc`, `icecc-create-env`, `distcc` and `g++`.
    pub path: &'a str,
    /// The directory compiler environments are kept in (under the cache).
    pub cache: &'a Path,
    /// How long to wait for a scheduler or host to answer.
    pub timeout: Duration,
}

/// The farm of `engine`, ready for a build with the compiler `cc` (make's
/// `CC`, a command name or path), or why it cannot be used.
pub fn prepare(engine: Engine, cc: &str, site: &Site<'_>) -> Result<Farm, Unavailable> {
    match engine {
        Engine::Icecream => icecream(cc, site),
        Engine::Distcc => distcc(site),
    }
}

fn icecream(cc: &str, site: &Site<'_>) -> Result<Farm, Unavailable> {
    let installed = |program| {
        which(program, site.path).ok_or(Unavailable::NotInstalled {
            program,
            package: "icecc",
        })
    };
    installed("icecc")?;
    let address = scheduler_address(site.var, Path::new("/etc/icecc/icecc.conf"));
    let mut hosts =
        list_hosts(&address, site.timeout).map_err(|source| Unavailable::NoScheduler {
            address: address.clone(),
            source,
        })?;
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    if hosts.is_empty() {
        return Err(Unavailable::NoHosts { address });
    }
    local_daemon(site.timeout)?;
    let version = match (site.var)("ICECC_VERSION").filter(|v| !v.is_empty()) {
        Some(v) => v,
        None => {
            let create = installed("icecc-create-env")?;
            let compiler = which(cc, site.path).ok_or_else(|| Unavailable::Environment {
                compiler: PathBuf::from(cc),
                message: "the compiler is not in PATH".into(),
            })?;
            environment(&create, &compiler, site)?
                .to_string_lossy()
                .into_owned()
        }
    };
    Ok(Farm {
        engine: Engine::Icecream,
        launcher: "icecc".into(),
        env: vec![("ICECC_VERSION".into(), version)],
        jobs: hosts.iter().map(|h| h.slots).sum::<usize>().max(1),
        hosts,
    })
}

/// The scheduler's `host:port`, found as iceccd finds it.
pub fn scheduler_address(var: &dyn Fn(&str) -> Option<String>, conf: &Path) -> String {
    let given = var("USE_SCHEDULER")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            let text = std::fs::read_to_string(conf).ok()?;
            text.lines().find_map(|l| {
                let v = l.trim().strip_prefix("ICECC_SCHEDULER_HOST=")?;
                let v = v.trim().trim_matches('"').trim();
                (!v.is_empty()).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| "localhost".into());
    let given = given.trim();
    if given
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        given.to_string()
    } else {
        format!("{given}:8765")
    }
}

/// The compile hosts the scheduler at `address` (`host:port`) lists, asked
/// on its text interface (the next port) with `listcs`.
pub fn list_hosts(address: &str, timeout: Duration) -> std::io::Result<Vec<Host>> {
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not host:port"))?;
    let monitor = port.checked_add(1).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "port out of range")
    })?;
    let mut stream = connect((host, monitor), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"listcs\r\nquit\r\n")?;
    // The answer is a few lines per host; more than 1 MiB is not a scheduler.
    let mut text = Vec::new();
    stream.take(1 << 20).read_to_end(&mut text)?;
    let text = String::from_utf8_lossy(&text);
    if !text.starts_with("200") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it does not answer as an icecream scheduler",
        ));
    }
    Ok(parse_listcs(&text))
}

fn connect(to: impl ToSocketAddrs, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in to.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
    }))
}

/// The hosts of a `listcs` answer: lines `name (ip:port) [platform] ...
/// jobs=running/slots ...`.
pub fn parse_listcs(text: &str) -> Vec<Host> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, rest) = line.split_once(" (")?;
            let (address, rest) = rest.split_once(')')?;
            let slots = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("jobs="))?
                .split_once('/')?
                .1
                .trim_end_matches(',')
                .parse()
                .ok()?;
            Some(Host {
                name: name.to_string(),
                address: address.to_string(),
                slots,
            })
        })
        .collect()
}

/// The local daemon answers on its socket or its TCP port.
fn local_daemon(timeout: Duration) -> Result<(), Unavailable> {
    const SOCKETS: [&str; 2] = ["/var/run/icecc/iceccd.socket", "/run/icecc/iceccd.socket"];
    if SOCKETS
        .iter()
        .any(|s| std::os::unix::net::UnixStream::connect(s).is_ok())
        || connect(("127.0.0.1", 10245), timeout).is_ok()
    {
        return Ok(());
    }
    Err(Unavailable::NoDaemon {
        socket: SOCKETS[0].into(),
    })
}

/// The compiler environment icecream ships to its hosts: `compiler` (and
/// its C++ sibling, which `icecc-create-env --gcc` wants too) packed once per
/// compiler identity and kept under the cache.
fn environment(create: &Path, compiler: &Path, site: &Site<'_>) -> Result<PathBuf, Unavailable> {
    let fail = |message: String| Unavailable::Environment {
        compiler: compiler.to_path_buf(),
        message,
    };
    let real = std::fs::canonicalize(compiler).map_err(|e| fail(e.to_string()))?;
    let meta = std::fs::metadata(&real).map_err(|e| fail(e.to_string()))?;
    let identity = {
        use sha2::Digest;
        use std::os::unix::fs::MetadataExt;
        let text = format!(
            "{}\n{}\n{}.{}\n{}",
            real.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino()
        );
        hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
    };
    let dir = site.cache.join(&identity);
    let tarball = dir.join("env.tar.gz");
    if tarball.is_file() {
        return Ok(tarball);
    }
    let name = real
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let args: Vec<String> = if name.contains("clang") {
        vec!["--clang".into(), real.display().to_string()]
    } else {
        let cxx_name = name.replacen("gcc", "g++", 1);
        let cxx = which(&cxx_name, site.path)
            .or_else(|| Some(real.with_file_name(&cxx_name)).filter(|p| p.is_file()))
            .ok_or_else(|| {
                fail(format!(
                    "icecc-create-env wants the C++ compiler too, and {cxx_name} is not installed (apt-get install g++)"
                ))
            })?;
        vec![
            "--gcc".into(),
            real.display().to_string(),
            cxx.display().to_string(),
        ]
    };
    std::fs::create_dir_all(site.cache).map_err(|e| fail(e.to_string()))?;
    let work = tempfile::Builder::new()
        .prefix(".pack.")
        .tempdir_in(site.cache)
        .map_err(|e| fail(e.to_string()))?;
    let out = Command::new(create)
        .args(&args)
        .current_dir(work.path())
        .output()
        .map_err(|e| fail(format!("{}: {e}", create.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(fail(format!(
            "icecc-create-env failed ({}): {last}",
            out.status
        )));
    }
    let made = std::fs::read_dir(work.path())
        .map_err(|e| fail(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .ok_or_else(|| fail("icecc-create-env wrote no .tar.gz".into()))?;
    // Whole or absent: another build may pack the same compiler meanwhile;
    // either rename leaves a complete tarball.
    std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&made, &tarball).map_err(|e| fail(e.to_string()))?;
    Ok(tarball)
}

fn distcc(site: &Site<'_>) -> Result<Farm, Unavailable> {
    which("distcc", site.path).ok_or(Unavailable::NotInstalled {
        program: "distcc",
        package: "distcc",
    })?;
    let text = (site.var)("DISTCC_HOSTS")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            let home = (site.var)("HOME")?;
            std::fs::read_to_string(Path::new(&home).join(".distcc/hosts")).ok()
        })
        .or_else(|| std::fs::read_to_string("/etc/distcc/hosts").ok())
        .ok_or(Unavailable::NoDistccHosts)?;
    let hosts = parse_distcc_hosts(&text);
    if hosts.is_empty() {
        return Err(Unavailable::NoDistccHosts);
    }
    if !hosts
        .iter()
        .any(|h| connect(h.address.as_str(), site.timeout).is_ok())
    {
        return Err(Unavailable::NoDistccAnswer {
            hosts: hosts
                .iter()
                .map(|h| h.address.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(Farm {
        engine: Engine::Distcc,
        launcher: "distcc".into(),
        env: vec![("DISTCC_HOSTS".into(), text.trim().to_string())],
        jobs: hosts.iter().map(|h| h.slots).sum::<usize>().max(1),
        hosts,
    })
}

/// distcc's host list: words `host[:port][/limit][,options]`; comments after
/// `#`; `localhost` and `--randomize`-style options are not hosts that
/// answer on TCP. A host without a limit takes distcc's default of 4.
pub fn parse_distcc_hosts(text: &str) -> Vec<Host> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .filter(|w| !w.starts_with("--") && !w.starts_with('@'))
        .filter_map(|w| {
            let w = w.split(',').next()?;
            let (addr, slots) = match w.split_once('/') {
                Some((a, n)) => (a, n.parse().ok()?),
                None => (w, 4),
            };
            if addr.is_empty() || addr == "localhost" {
                return None;
            }
            let address = match addr.rsplit_once(':') {
                Some((_, p)) if p.parse::<u16>().is_ok() => addr.to_string(),
                _ => format!("{addr}:3632"),
            };
            Some(Host {
                name: addr.to_string(),
                address,
                slots,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listcs_answers_are_read() {
        let text = "200-ICECC 1.4.0: 24s uptime, 3 hosts, 0 jobs in queue (6 total).\n\
                    200 Use 'help' for help and 'quit' to quit.\n \
                    host (127.0.0.1:0) [x86_64] speed=0.00 jobs=0/2 load=1000\n \
                    node-a (10.201.1.2:10245) [x86_64] speed=12.5 jobs=1/8 load=20\n\
                    200 done\n200 Good Bye!\n";
        let hosts = parse_listcs(text);
        assert_eq!(
            hosts,
            [
                Host {
                    name: "host".into(),
                    address: "127.0.0.1:0".into(),
                    slots: 2
                },
                Host {
                    name: "node-a".into(),
                    address: "10.201.1.2:10245".into(),
                    slots: 8
                },
            ]
        );
        assert!(parse_listcs("200 done\nrandom words (x) jobs=\n").is_empty());
    }

    #[test]
    fn the_scheduler_is_found_as_iceccd_finds_it() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("icecc.conf");
        let none = |_: &str| None;
        assert_eq!(scheduler_address(&none, &conf), "localhost:8765");
        std::fs::write(&conf, "# c\nICECC_SCHEDULER_HOST=\"farm.example\"\n").unwrap();
        assert_eq!(scheduler_address(&none, &conf), "farm.example:8765");
        let given = |k: &str| (k == "USE_SCHEDULER").then(|| "10.0.0.1:18765".to_string());
        assert_eq!(scheduler_address(&given, &conf), "10.0.0.1:18765");
    }

    #[test]
    fn a_silent_or_foreign_scheduler_is_unavailable() {
        // Nothing listens: refused at once.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let e = list_hosts(&format!("127.0.0.1:{}", port - 1), Duration::from_secs(1));
        assert!(e.is_err());
        // Something answers, but not as a scheduler.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut request = [0u8; 14];
                let _ = s.read_exact(&mut request);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        });
        let e = list_hosts(&format!("127.0.0.1:{}", port - 1), Duration::from_secs(2)).unwrap_err();
        assert!(
            e.to_string()
                .contains("not answer as an icecream scheduler"),
            "{e}"
        );
        assert!(list_hosts("no-port", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn distcc_host_lists_are_read() {
        let hosts = parse_distcc_hosts("# farm\nlocalhost/2 a/8 b:4000/3,lzo --randomize c\n");
        let got: Vec<_> = hosts
            .iter()
            .map(|h| (h.address.as_str(), h.slots))
            .collect();
        assert_eq!(got, [("a:3632", 8), ("b:4000", 3), ("c:3632", 4)]);
    }
}
