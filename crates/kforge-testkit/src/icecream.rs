//! A real icecream farm on this machine, for the tests of distributed
//! compiles: `icecc-scheduler` on a free port of the host, two compile
//! daemons that stand for other machines, each in a network namespace of
//! its own (a veth pair to the host) and a mount namespace of its own, and
//! the local daemon the `icecc` client talks to, at the standard socket.
//!
//! The daemons are icecream's own; what the stand-in machines do not share
//! with real ones is the CPU: a daemon declines jobs when its machine is
//! busy, and on a 2-CPU test machine every daemon would see the build's own
//! load. Each stand-in therefore reads the `/proc/stat` of an idle machine
//! (a copy bind-mounted over it in its mount namespace). Everything is
//! stopped and the namespaces removed when the [`Farm`] is dropped.
//! Needs root and the `icecc` package; panics naming the remedy otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running farm: a scheduler, two remote daemons and the local one.
pub struct Farm {
    /// `USE_SCHEDULER` for kforge: `127.0.0.1:PORT`.
    pub scheduler: String,
    /// The scheduler's log (`-vvv`): one `END n ... server=NAME` line per
    /// finished job.
    pub log: PathBuf,
    dir: tempfile::TempDir,
    scheduler_process: Option<Child>,
    daemons: Vec<Child>,
    namespaces: Vec<String>,
}

const SOCKET: &str = "/var/run/icecc/iceccd.socket";

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

impl Farm {
    /// Start the farm and wait until the scheduler lists its three hosts.
    pub fn start() -> Farm {
        for tool in ["icecc-scheduler", "iceccd", "icecc", "icecc-create-env"] {
            assert!(
                ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                    .iter()
                    .any(|d| Path::new(d).join(tool).is_file()),
                "{tool} is not installed: run scripts/setup (apt-get install icecc)"
            );
        }
        // SAFETY-free check of root: network namespaces need it.
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the icecream farm test makes network namespaces: run it as root"
        );
        assert!(
            std::os::unix::net::UnixStream::connect(SOCKET).is_err(),
            "an iceccd already runs on this machine ({SOCKET}): stop it (systemctl stop iceccd) for the test"
        );
        let dir = tempfile::tempdir().unwrap();
        // The scheduler drops to user icecc: its log's directory is open to it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let id = std::process::id() % 100_000;
        let net = 200 + (std::process::id() % 50);
        let port = {
            // Two free ports in a row: the scheduler's and its text interface's.
            let mut p = 0;
            for _ in 0..50 {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let cand = l.local_addr().unwrap().port();
                drop(l);
                if cand < 65535 && std::net::TcpListener::bind(("0.0.0.0", cand + 1)).is_ok() {
                    p = cand;
                    break;
                }
            }
            assert_ne!(p, 0, "no two free ports in a row");
            p
        };
        let log = dir.path().join("scheduler.log");
        let mut farm = Farm {
            scheduler: format!("127.0.0.1:{port}"),
            log: log.clone(),
            scheduler_process: None,
            daemons: Vec::new(),
            namespaces: Vec::new(),
            dir,
        };
        let netname = format!("kforgetest{id}");
        farm.scheduler_process = Some(spawn(
            Command::new("icecc-scheduler")
                .args(["-p", &port.to_string(), "-n", &netname, "-vvv", "-l"])
                .arg(&log),
        ));
        // An idle machine's CPU counters (they never move).
        let idle = farm.dir.path().join("idle-stat");
        std::fs::write(&idle, "cpu  1000 0 1000 1000000 0 0 0 0 0 0\n").unwrap();
        for (i, node) in ["a", "b"].iter().enumerate() {
            let ns = format!("kft{id}{node}");
            let host_if = format!("kfh{id}{node}");
            let ns_if = format!("kfn{id}{node}");
            let subnet = format!("10.{net}.{}", i + 1);
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            run(Command::new("ip").args(["netns", "add", &ns]));
            farm.namespaces.push(ns.clone());
            run(Command::new("ip").args([
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ]));
            run(Command::new("ip").args(["link", "set", &ns_if, "netns", &ns]));
            run(Command::new("ip").args([
                "addr",
                "add",
                &format!("{subnet}.1/24"),
                "dev",
                &host_if,
            ]));
            run(Command::new("ip").args(["link", "set", &host_if, "up"]));
            run(Command::new("ip").args([
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{subnet}.2/24"),
                "dev",
                &ns_if,
            ]));
            run(Command::new("ip").args(["-n", &ns, "link", "set", &ns_if, "up"]));
            run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
            let envs = farm.dir.path().join(format!("envs-{node}"));
            let script = format!(
                "mount -t tmpfs none /var/run && mkdir -p /var/run/icecc && \
                 mount --bind {idle} /proc/stat && \
                 exec iceccd -s {subnet}.1:{port} -n {netname} -m 2 -N node-{node} -b {envs} -l {log} -vvv",
                idle = idle.display(),
                envs = envs.display(),
                log = farm.dir.path().join(format!("daemon-{node}.log")).display(),
            );
            farm.daemons.push(spawn(
                Command::new("ip").args(["netns", "exec", &ns, "sh", "-c", &script]),
            ));
        }
        std::fs::create_dir_all("/var/run/icecc").unwrap();
        farm.daemons.push(spawn(
            Command::new("iceccd")
                .args([
                    "-s",
                    &farm.scheduler,
                    "-n",
                    &netname,
                    "-m",
                    "2",
                    "--no-remote",
                ])
                .args(["-N", "local", "-b"])
                .arg(farm.dir.path().join("envs-local"))
                .arg("-l")
                .arg(farm.dir.path().join("daemon-local.log")),
        ));
        // Daemons look for their scheduler every few seconds.
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&farm.log).unwrap_or_default();
            let logins = text.lines().filter(|l| l.contains(": login ")).count();
            if logins >= 3 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the icecream daemons did not log in to the scheduler within 60 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        farm
    }

    /// Jobs the scheduler saw finish on each remote daemon: (`node-a`,
    /// `node-b`) counts, from its own log.
    pub fn remote_jobs(&self) -> (usize, usize) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let count = |node: &str| {
            text.lines()
                .filter(|l| l.contains(": END ") && l.ends_with(&format!("server={node}")))
                .count()
        };
        (count("node-a"), count("node-b"))
    }

    /// Jobs that finished on the local daemon.
    pub fn local_jobs(&self) -> usize {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(": END ") && l.ends_with("server=local"))
            .count()
    }

    /// Stop the scheduler (the farm loses it mid-build).
    pub fn stop_scheduler(&mut self) {
        if let Some(mut s) = self.scheduler_process.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.stop_scheduler();
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_file(SOCKET);
        for ns in &self.namespaces {
            // Removing a namespace removes its end of the veth pair, and so
            // the host's end.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
