//! Running a kernel in QEMU: the command line, the console capture, the
//! timeout, and the reading of the guest's markers into an [`Outcome`].

use crate::guest::{check_nonce, marker};
use crate::{io_err, Error};
use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How many console lines [`Outcome::console_tail`] keeps.
pub const TAIL_LINES: usize = 30;
/// How many lines before a `Kernel panic` line the panic report includes.
pub const PANIC_CONTEXT: usize = 8;
/// The most lines a panic report collects from the `Kernel panic` line on.
const PANIC_MAX: usize = 60;
/// How long QEMU may take to exit after the `done` marker or a panic.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// The text the kernel prints when it panics.
pub const PANIC_TEXT: &str = "Kernel panic - not syncing";

/// The guest architectures this crate can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86-64 on `qemu-system-x86_64 -M q35`, console `ttyS0`; boots a
    /// `bzImage`.
    X86_64,
    /// arm64 on `qemu-system-aarch64 -M virt`, console `ttyAMA0`; boots
    /// an `Image`.
    Arm64,
    /// 32-bit big-endian MIPS on `qemu-system-mips -M malta`, console
    /// `ttyS0`; boots a `vmlinux` (ELF).
    Mips,
    /// 32-bit little-endian MIPS (the kernel's `mips` with
    /// `CPU_LITTLE_ENDIAN`) on `qemu-system-mipsel -M malta`, console
    /// `ttyS0`; boots a `vmlinux` (ELF).
    Mipsel,
}

impl Arch {
    /// The name of the architecture: the kernel's (`x86_64`, `arm64`,
    /// `mips`), and `mipsel` for little-endian MIPS.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Mips => "mips",
            Arch::Mipsel => "mipsel",
        }
    }

    /// This architecture with the byte order a kernel configuration asks
    /// for: `mips` with `CPU_LITTLE_ENDIAN` is [`Arch::Mipsel`].
    pub fn with_byte_order(self, little_endian: bool) -> Arch {
        match self {
            Arch::Mips | Arch::Mipsel if little_endian => Arch::Mipsel,
            Arch::Mips | Arch::Mipsel => Arch::Mips,
            other => other,
        }
    }

    /// Parses a kernel (`x86_64`, `x86`, `arm64`, `mips`), Debian (`amd64`)
    /// or machine (`aarch64`) architecture name.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "x86" | "amd64" | "x86-64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            "mips" => Some(Arch::Mips),
            "mipsel" => Some(Arch::Mipsel),
            _ => None,
        }
    }

    /// The architecture of the machine running this code, if supported.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            "mips" => Some(Arch::Mips.with_byte_order(cfg!(target_endian = "little"))),
            _ => None,
        }
    }

    /// The QEMU system emulator binary.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Arm64 => "qemu-system-aarch64",
            Arch::Mips => "qemu-system-mips",
            Arch::Mipsel => "qemu-system-mipsel",
        }
    }

    /// The Debian package providing [`Arch::qemu_binary`].
    pub fn qemu_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Arm64 => "qemu-system-arm",
            Arch::Mips | Arch::Mipsel => "qemu-system-mips",
        }
    }

    /// The serial console device the kernel writes to (`console=`).
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Mips | Arch::Mipsel => "ttyS0",
            Arch::Arm64 => "ttyAMA0",
        }
    }

    /// The machine and CPU options, with or without KVM.
    pub fn machine_args(self, kvm: bool) -> Vec<&'static str> {
        let cpu = if kvm { "host" } else { "max" };
        let mut a = match self {
            Arch::X86_64 => vec!["-M", "q35", "-cpu", cpu],
            Arch::Arm64 => vec!["-M", "virt", "-cpu", cpu],
            Arch::Mips | Arch::Mipsel => vec!["-M", "malta"],
        };
        if kvm {
            a.push("-enable-kvm");
        }
        a
    }

    /// The ELF `e_machine` of executables for this architecture.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => object::elf::EM_X86_64,
            Arch::Arm64 => object::elf::EM_AARCH64,
            Arch::Mips | Arch::Mipsel => object::elf::EM_MIPS,
        }
    }

    /// Whether the architecture is big-endian.
    pub fn big_endian(self) -> bool {
        matches!(self, Arch::Mips)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether to use KVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvmMode {
    /// KVM when `/dev/kvm` opens read-write and the guest architecture is
    /// the host's; TCG (emulation) otherwise.
    ///
    /// A KVM run whose kernel shows no sign of life within [`KVM_STALL`]
    /// is started again with TCG (see [`run`]).
    #[default]
    Auto,
    /// KVM or an error, without falling back to TCG.
    On,
    /// Always TCG.
    Off,
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The guest architecture.
    pub arch: Arch,
    /// The QEMU binary (a path, or a name looked up in `PATH`) instead of
    /// [`Arch::qemu_binary`].
    pub qemu: Option<PathBuf>,
    /// The kernel image (see [`Arch`] for the format).
    pub kernel: PathBuf,
    /// The initramfs (e.g. written by [`crate::Initramfs::write_file`]).
    pub initramfs: PathBuf,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Extra kernel command line, after `console=... panic=-1 rdinit=/init`
    /// (a later `rdinit=` overrides).
    pub append: String,
    /// Extra QEMU arguments, added last.
    pub qemu_args: Vec<String>,
    /// How long the whole run may take before QEMU is killed.
    pub timeout: Duration,
    /// Where the console output is written (created or truncated).
    pub console_log: PathBuf,
    /// Also copy the console to stderr as it arrives.
    pub verbose: bool,
    /// KVM or TCG.
    pub kvm: KvmMode,
}

impl RunOptions {
    /// Options with defaults: 256 MiB, a 120 s timeout, KVM when possible,
    /// no extra arguments, quiet.
    pub fn new(
        arch: Arch,
        kernel: impl Into<PathBuf>,
        initramfs: impl Into<PathBuf>,
        console_log: impl Into<PathBuf>,
    ) -> Self {
        RunOptions {
            arch,
            qemu: None,
            kernel: kernel.into(),
            initramfs: initramfs.into(),
            memory_mib: 256,
            append: String::new(),
            qemu_args: Vec::new(),
            timeout: Duration::from_secs(120),
            console_log: console_log.into(),
            verbose: false,
            kvm: KvmMode::Auto,
        }
    }

    /// The kernel command line QEMU passes (`-append`).
    pub fn cmdline(&self) -> String {
        let mut s = format!("console={} panic=-1 rdinit=/init", self.arch.console());
        let extra = self.append.trim();
        if !extra.is_empty() {
            s.push(' ');
            s.push_str(extra);
        }
        s
    }

    /// The QEMU arguments (without the binary) for a run with or without KVM.
    pub fn qemu_command_args(&self, kvm: bool) -> Vec<String> {
        let mut a: Vec<String> = self
            .arch
            .machine_args(kvm)
            .into_iter()
            .map(String::from)
            .collect();
        let s = |v: &str| v.to_string();
        a.extend([s("-m"), self.memory_mib.to_string()]);
        a.extend(
            [
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-monitor",
                "none",
            ]
            .map(s),
        );
        a.extend(["-serial", "stdio", "-no-reboot"].map(s));
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        a.extend([s("-kernel"), abs(&self.kernel).display().to_string()]);
        a.extend([s("-initrd"), abs(&self.initramfs).display().to_string()]);
        a.extend([s("-append"), self.cmdline()]);
        a.extend(self.qemu_args.iter().cloned());
        a
    }
}

/// Whether a loader's script ran at load or at unload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderPhase {
    /// `load.sh`.
    Load,
    /// `unload.sh`.
    Unload,
}

/// One loader's exit codes, as the markers reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderResult {
    /// The loader's name.
    pub name: String,
    /// `load.sh`'s exit code, if it ran.
    pub load: Option<i32>,
    /// `unload.sh`'s exit code, if it ran.
    pub unload: Option<i32>,
}

/// The verdict of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Everything ran and exited 0.
    Passed,
    /// The test script exited non-zero.
    ScriptFailed {
        /// Its exit code.
        exit: i32,
    },
    /// A loader's `load.sh` or `unload.sh` exited non-zero.
    LoaderFailed {
        /// The loader's name.
        loader: String,
        /// Which script failed.
        phase: LoaderPhase,
        /// Its exit code.
        rc: i32,
    },
    /// The kernel panicked.
    Panic {
        /// The lines before the panic line, the panic line, and what
        /// follows up to the end-of-panic line.
        lines: Vec<String>,
    },
    /// The run took longer than the timeout; QEMU was killed.
    Timeout {
        /// The last console lines.
        tail: Vec<String>,
    },
    /// QEMU exited before the guest printed the `done` marker.
    NoDoneMarker {
        /// The last console lines.
        tail: Vec<String>,
    },
}

impl Status {
    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        matches!(self, Status::Passed)
    }

    /// A short kebab-case name of the variant (`passed`, `script-failed`,
    /// `loader-failed`, `panic`, `timeout`, `no-done-marker`).
    pub fn kind(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::ScriptFailed { .. } => "script-failed",
            Status::LoaderFailed { .. } => "loader-failed",
            Status::Panic { .. } => "panic",
            Status::Timeout { .. } => "timeout",
            Status::NoDoneMarker { .. } => "no-done-marker",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Passed => write!(f, "passed"),
            Status::ScriptFailed { exit } => write!(f, "the test script exited {exit}"),
            Status::LoaderFailed { loader, phase, rc } => {
                let s = match phase {
                    LoaderPhase::Load => "load.sh",
                    LoaderPhase::Unload => "unload.sh",
                };
                write!(f, "loader {loader}: {s} exited {rc}")
            }
            Status::Panic { lines } => {
                let l = lines
                    .iter()
                    .find(|l| l.contains(PANIC_TEXT))
                    .map_or("", |l| l.trim());
                write!(f, "kernel panic: {l}")
            }
            Status::Timeout { .. } => write!(f, "timed out; QEMU was killed"),
            Status::NoDoneMarker { .. } => write!(f, "QEMU exited before the guest reported done"),
        }
    }
}

/// What a run found out.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The verdict.
    pub status: Status,
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// The loaders that reported, in load order.
    pub loaders: Vec<LoaderResult>,
    /// The test script's exit code, if it ran to the end.
    pub script_exit: Option<i32>,
    /// From QEMU's start to the guest's first marker (`/init` running).
    pub boot_time: Option<Duration>,
    /// From QEMU's start to the `done` marker.
    pub done_time: Option<Duration>,
    /// The whole run, until QEMU had exited or was killed.
    pub total_time: Duration,
    /// The last [`TAIL_LINES`] console lines.
    pub console_tail: Vec<String>,
    /// Whether KVM was used.
    pub kvm: bool,
    /// Why KVM was not used although [`KvmMode::Auto`] would have (it
    /// stalled or failed in this run or an earlier one).
    pub kvm_fallback: Option<String>,
    /// The QEMU command line run (binary first).
    pub command: Vec<String>,
    /// QEMU's exit code when it exited by itself (not when killed).
    pub qemu_exit: Option<i32>,
    /// What QEMU printed on its stderr (at most 64 KiB).
    pub qemu_stderr: String,
}

/// Boots `opts.kernel` with `opts.initramfs` in QEMU and reads the markers
/// carrying `nonce` (the [`crate::GuestPlan::nonce`] the initramfs was made
/// with) from the console.
///
/// With [`KvmMode::Auto`], a KVM run in which the kernel prints nothing
/// within [`KVM_STALL`] (or QEMU exits first) is taken for a KVM that does
/// not work (nested virtualisation can be far slower than emulation, or
/// refuse the host CPU model): QEMU is stopped and the run starts again
/// with TCG, for this call and the rest of the process
/// ([`Outcome::kvm_fallback`] says why).
///
/// Errors are for runs that could not start (QEMU missing, bad options,
/// console log not writable); whatever happens in the guest is an
/// [`Outcome`].
pub fn run(opts: &RunOptions, nonce: &str) -> Result<Outcome, Error> {
    check_nonce(nonce)?;
    for (what, p) in [
        ("kernel image", &opts.kernel),
        ("initramfs", &opts.initramfs),
    ] {
        if !p.is_file() {
            return Err(Error::Options(format!(
                "{what} {} is not a file",
                p.display()
            )));
        }
    }
    if opts.memory_mib == 0 {
        return Err(Error::Options("memory must be at least 1 MiB".into()));
    }
    let binary = find_qemu(opts)?;
    let native = Arch::host() == Some(opts.arch);
    let start = Instant::now();
    let mut fallback = None;
    let kvm = match opts.kvm {
        KvmMode::Off => false,
        KvmMode::On => {
            if !native {
                return Err(Error::Options(format!(
                    "KVM cannot run a {} guest on this {} host",
                    opts.arch,
                    std::env::consts::ARCH
                )));
            }
            if !kvm_usable() {
                return Err(Error::Options(
                    "KVM asked for, but /dev/kvm cannot be opened read-write".into(),
                ));
            }
            true
        }
        KvmMode::Auto => {
            if KVM_BROKEN.load(Ordering::Relaxed) {
                fallback = Some("KVM did not work for an earlier run of this process".to_string());
                false
            } else {
                native && kvm_usable()
            }
        }
    };
    if kvm && opts.kvm == KvmMode::Auto {
        match attempt(opts, &binary, nonce, true, Some(KVM_STALL))? {
            Attempt::Finished(mut o) => {
                o.total_time = start.elapsed();
                return Ok(*o);
            }
            Attempt::Stalled(why) => {
                KVM_BROKEN.store(true, Ordering::Relaxed);
                fallback = Some(why);
            }
        }
    }
    let kvm = kvm && opts.kvm == KvmMode::On;
    match attempt(opts, &binary, nonce, kvm, None)? {
        Attempt::Finished(mut o) => {
            o.total_time = start.elapsed();
            o.kvm_fallback = fallback;
            Ok(*o)
        }
        Attempt::Stalled(_) => unreachable!("no stall limit"),
    }
}

/// How long a KVM run may go without kernel output before [`run`] gives up
/// on KVM ([`KvmMode::Auto`] only).
pub const KVM_STALL: Duration = Duration::from_secs(6);

/// Set when a KVM run stalled: later [`KvmMode::Auto`] runs use TCG.
static KVM_BROKEN: AtomicBool = AtomicBool::new(false);

enum Attempt {
    Finished(Box<Outcome>),
    /// No kernel output within the stall limit (or QEMU exited first).
    Stalled(String),
}

/// Whether a console line shows the kernel proper running: a printk line
/// (`[    0.000000] ...`), the version banner, or a marker.
fn kernel_started(line: &str, prefix: &str) -> bool {
    let t = line.trim_start();
    let printk = t.strip_prefix('[').is_some_and(|r| {
        let r = r.trim_start();
        r.starts_with(|c: char| c.is_ascii_digit()) && r.contains(']')
    });
    printk || line.contains("Linux version") || line.contains(prefix) || line.contains(PANIC_TEXT)
}

/// One QEMU run. With `stall`, gives up (killing QEMU) when no line shows
/// the kernel running within that time or QEMU exits before one does.
fn attempt(
    opts: &RunOptions,
    binary: &Path,
    nonce: &str,
    kvm: bool,
    stall: Option<Duration>,
) -> Result<Attempt, Error> {
    let args = opts.qemu_command_args(kvm);
    let mut command = vec![binary.display().to_string()];
    command.extend(args.iter().cloned());

    let log =
        std::fs::File::create(&opts.console_log).map_err(io_err("creating", &opts.console_log))?;
    let bin_name = binary.display().to_string();
    let spawn_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::QemuMissing {
                binary: bin_name.clone(),
                package: opts.arch.qemu_package(),
            }
        } else {
            Error::QemuSpawn {
                binary: bin_name.clone(),
                source,
            }
        }
    };
    // QEMU runs in the console log's directory, so that a core dump (QEMU
    // aborts on some KVM set-ups) lands there and not in the caller's tree.
    let cwd = opts
        .console_log
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args(&args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;

    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let verbose = opts.verbose;
    let log_path = opts.console_log.clone();
    let reader = std::thread::spawn(move || read_console(stdout, log, verbose, tx));
    let stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let finish_readers = |reader: std::thread::JoinHandle<std::io::Result<()>>,
                          err_reader: std::thread::JoinHandle<String>|
     -> Result<String, Error> {
        let log_result = reader.join().expect("console reader thread");
        log_result.map_err(io_err("writing", &log_path))?;
        Ok(err_reader.join().unwrap_or_default())
    };

    let mut p = Parser::new(nonce);
    let deadline = start + opts.timeout;
    let mut started = stall.is_none();
    let stall_at = stall.map(|s| start + s);
    let mut limit = stall_at.map_or(deadline, |s| s.min(deadline));
    let mut killed = false;
    let mut eof = false;
    loop {
        let now = Instant::now();
        if now >= limit {
            kill(&mut child);
            killed = true;
            break;
        }
        match rx.recv_timeout(limit - now) {
            Ok((at, line)) => {
                if !started && kernel_started(&line, &p.prefix) {
                    started = true;
                    limit = deadline;
                }
                p.feed(&line, at.saturating_duration_since(start));
                if p.finished() {
                    limit = limit.min(Instant::now() + EXIT_GRACE);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                eof = true;
                break;
            }
        }
    }
    // QEMU closed its console (it is exiting) or was killed: reap it.
    let mut qemu_exit = None;
    if eof {
        let limit = Instant::now() + EXIT_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    qemu_exit = st.code();
                    break;
                }
                Ok(None) if Instant::now() < limit => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    kill(&mut child);
                    killed = true;
                    break;
                }
            }
        }
    }
    for (at, line) in rx.iter() {
        if !started && kernel_started(&line, &p.prefix) {
            started = true;
        }
        p.feed(&line, at.saturating_duration_since(start));
    }
    let qemu_stderr = finish_readers(reader, err_reader)?;
    if !started {
        let s = stall.unwrap_or_default().as_secs();
        let why = if killed {
            format!("with KVM, the kernel printed nothing within {s} s")
        } else {
            let first = qemu_stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("with KVM, QEMU exited before the kernel printed anything: {first}")
        };
        return Ok(Attempt::Stalled(why));
    }
    let timed_out = killed && Instant::now() >= deadline;
    let total_time = start.elapsed();
    Ok(Attempt::Finished(Box::new(p.outcome(
        timed_out,
        total_time,
        kvm,
        command,
        qemu_exit,
        qemu_stderr,
    ))))
}

/// Whether `/dev/kvm` can be opened read-write.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// The QEMU binary to run: the override or the architecture's default,
/// a name being looked up in `PATH`.
fn find_qemu(opts: &RunOptions) -> Result<PathBuf, Error> {
    let want = opts
        .qemu
        .clone()
        .unwrap_or_else(|| PathBuf::from(opts.arch.qemu_binary()));
    let missing = || Error::QemuMissing {
        binary: want.display().to_string(),
        package: opts.arch.qemu_package(),
    };
    if want.components().count() > 1 {
        return match std::path::absolute(&want) {
            Ok(p) if p.is_file() => Ok(p),
            _ => Err(missing()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter_map(|d| std::path::absolute(d.join(&want)).ok())
        .find(|p| is_executable(p))
        .ok_or_else(missing)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads QEMU's stdout line by line: each line (without `\r\n`) goes to
/// the log, to stderr when `verbose`, and with its arrival time to `tx`.
fn read_console(
    out: impl Read,
    log: std::fs::File,
    verbose: bool,
    tx: mpsc::Sender<(Instant, String)>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(out);
    let mut log = std::io::BufWriter::new(log);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let at = Instant::now();
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        writeln!(log, "{line}")?;
        log.flush()?;
        if verbose {
            eprintln!("{line}");
        }
        // The receiver is gone only when the run is over.
        let _ = tx.send((at, line));
    }
    log.flush()
}

/// Turns console lines into markers, a tail and a panic report.
pub(crate) struct Parser {
    prefix: String,
    tail: VecDeque<String>,
    recent: VecDeque<String>,
    release: Option<String>,
    loaders: Vec<LoaderResult>,
    script_exit: Option<i32>,
    first_marker: Option<Duration>,
    done: Option<Duration>,
    panic: Option<Vec<String>>,
    panic_open: bool,
}

impl Parser {
    pub(crate) fn new(nonce: &str) -> Self {
        Parser {
            prefix: marker(nonce, ""),
            tail: VecDeque::new(),
            recent: VecDeque::new(),
            release: None,
            loaders: Vec::new(),
            script_exit: None,
            first_marker: None,
            done: None,
            panic: None,
            panic_open: false,
        }
    }

    /// Whether the guest is through: `done` printed, or a panic reported.
    pub(crate) fn finished(&self) -> bool {
        self.done.is_some() || (self.panic.is_some() && !self.panic_open)
    }

    pub(crate) fn feed(&mut self, line: &str, at: Duration) {
        if let Some(i) = line.find(&self.prefix) {
            self.first_marker.get_or_insert(at);
            self.marker(line[i + self.prefix.len()..].trim_end(), at);
        }
        if let Some(p) = &mut self.panic {
            if self.panic_open {
                p.push(line.to_string());
                if line.contains("---[ end Kernel panic") || p.len() >= PANIC_MAX {
                    self.panic_open = false;
                }
            }
        } else if line.contains(PANIC_TEXT) {
            let mut p: Vec<String> = self.recent.iter().cloned().collect();
            p.push(line.to_string());
            self.panic = Some(p);
            self.panic_open = !line.contains("---[ end Kernel panic");
        }
        push_capped(&mut self.recent, line, PANIC_CONTEXT);
        push_capped(&mut self.tail, line, TAIL_LINES);
    }

    fn marker(&mut self, m: &str, at: Duration) {
        if m == "done" {
            self.done.get_or_insert(at);
        } else if let Some(r) = m.strip_prefix("release:") {
            self.release.get_or_insert_with(|| r.to_string());
        } else if let Some(rc) = m.strip_prefix("script-exit:") {
            if let Ok(rc) = rc.parse() {
                self.script_exit.get_or_insert(rc);
            }
        } else if let Some(rest) = m.strip_prefix("loader:") {
            let mut it = rest.rsplitn(3, ':');
            let (Some(rc), Some(phase), Some(name)) = (it.next(), it.next(), it.next()) else {
                return;
            };
            let Ok(rc) = rc.parse() else { return };
            let i = match self.loaders.iter().position(|l| l.name == name) {
                Some(i) => i,
                None => {
                    self.loaders.push(LoaderResult {
                        name: name.to_string(),
                        load: None,
                        unload: None,
                    });
                    self.loaders.len() - 1
                }
            };
            let l = &mut self.loaders[i];
            match phase {
                "load" => l.load = l.load.or(Some(rc)),
                "unload" => l.unload = l.unload.or(Some(rc)),
                _ => {}
            }
        }
    }

    /// The verdict: a panic first, then a timeout, a missing `done`, then
    /// failed loads, the script's exit, failed unloads.
    pub(crate) fn status(&self, timed_out: bool) -> Status {
        let tail = || self.tail.iter().cloned().collect::<Vec<_>>();
        if let Some(lines) = &self.panic {
            return Status::Panic {
                lines: lines.clone(),
            };
        }
        if self.done.is_none() {
            return if timed_out {
                Status::Timeout { tail: tail() }
            } else {
                Status::NoDoneMarker { tail: tail() }
            };
        }
        let failed = |phase: LoaderPhase| {
            self.loaders.iter().find_map(|l| {
                let rc = match phase {
                    LoaderPhase::Load => l.load,
                    LoaderPhase::Unload => l.unload,
                }?;
                (rc != 0).then(|| Status::LoaderFailed {
                    loader: l.name.clone(),
                    phase,
                    rc,
                })
            })
        };
        if let Some(s) = failed(LoaderPhase::Load) {
            return s;
        }
        match self.script_exit {
            Some(0) => {}
            Some(exit) => return Status::ScriptFailed { exit },
            None => return Status::NoDoneMarker { tail: tail() },
        }
        failed(LoaderPhase::Unload).unwrap_or(Status::Passed)
    }

    fn outcome(
        self,
        timed_out: bool,
        total_time: Duration,
        kvm: bool,
        command: Vec<String>,
        qemu_exit: Option<i32>,
        qemu_stderr: String,
    ) -> Outcome {
        Outcome {
            status: self.status(timed_out),
            release: self.release,
            loaders: self.loaders,
            script_exit: self.script_exit,
            boot_time: self.first_marker,
            done_time: self.done,
            total_time,
            console_tail: self.tail.into_iter().collect(),
            kvm,
            kvm_fallback: None,
            command,
            qemu_exit,
            qemu_stderr,
        }
    }
}

fn push_capped(q: &mut VecDeque<String>, line: &str, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "00112233445566778899aabbccddeeff";

    fn parse(lines: &[&str]) -> Parser {
        let mut p = Parser::new(N);
        for (i, l) in lines.iter().enumerate() {
            p.feed(l, Duration::from_millis(i as u64 * 100));
        }
        p
    }

    fn m(what: &str) -> String {
        marker(N, what)
    }

    #[test]
    fn passing_run() {
        let lines = [
            "[    0.000000] Linux version 6.1.0",
            &m("start"),
            &m("release:6.1.0-47-amd64"),
            &m("loader:nft:load:0"),
            "hello from the test",
            &m("script-exit:0"),
            &format!("[    1.2] some kernel line{}", m("loader:nft:unload:0")),
            &m("done\r"),
        ];
        let p = parse(&lines.iter().map(|s| s.as_ref()).collect::<Vec<&str>>());
        assert_eq!(p.status(false), Status::Passed);
        assert_eq!(p.release.as_deref(), Some("6.1.0-47-amd64"));
        assert_eq!(
            p.loaders,
            [LoaderResult {
                name: "nft".into(),
                load: Some(0),
                unload: Some(0)
            }]
        );
        assert_eq!(p.first_marker, Some(Duration::from_millis(100)));
        assert_eq!(p.done, Some(Duration::from_millis(700)));
        assert!(p.finished());
    }

    #[test]
    fn forged_markers_are_ignored() {
        let p = parse(&[
            &m("start"),
            "KFORGE-TEST:ffffffffffffffffffffffffffffffff:script-exit:0",
            "KFORGE-TEST:ffffffffffffffffffffffffffffffff:done",
            &m("script-exit:7"),
        ]);
        assert_eq!(p.script_exit, Some(7));
        assert!(p.done.is_none());
        assert!(matches!(p.status(false), Status::NoDoneMarker { .. }));
        assert!(matches!(p.status(true), Status::Timeout { .. }));
    }

    #[test]
    fn verdict_order() {
        let p = parse(&[
            &m("loader:a:load:0"),
            &m("script-exit:3"),
            &m("loader:a:unload:1"),
            &m("done"),
        ]);
        assert_eq!(p.status(false), Status::ScriptFailed { exit: 3 });
        let p = parse(&[
            &m("loader:a:load:0"),
            &m("script-exit:0"),
            &m("loader:a:unload:1"),
            &m("done"),
        ]);
        assert_eq!(
            p.status(false),
            Status::LoaderFailed {
                loader: "a".into(),
                phase: LoaderPhase::Unload,
                rc: 1
            }
        );
        let p = parse(&[
            &m("loader:a:load:0"),
            &m("loader:b:load:2"),
            &m("script-skipped"),
            &m("done"),
        ]);
        assert_eq!(
            p.status(false),
            Status::LoaderFailed {
                loader: "b".into(),
                phase: LoaderPhase::Load,
                rc: 2
            }
        );
        // done without a script exit (cannot happen with our /init).
        let p = parse(&[&m("done")]);
        assert!(matches!(p.status(false), Status::NoDoneMarker { .. }));
    }

    #[test]
    fn panic_report() {
        let mut lines: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        lines.push("[    0.9] Kernel panic - not syncing: No working init found.".into());
        lines.push("[    0.9] CPU: 0 PID: 1 Comm: swapper".into());
        lines.push(
            "[    0.9] ---[ end Kernel panic - not syncing: No working init found. ]---".into(),
        );
        lines.push("after".into());
        let p = parse(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(p.finished());
        let Status::Panic { lines: pl } = p.status(true) else {
            panic!()
        };
        assert_eq!(pl.len(), PANIC_CONTEXT + 3);
        assert_eq!(pl[0], "line 12");
        assert!(pl[PANIC_CONTEXT].contains(PANIC_TEXT));
        assert!(pl.last().unwrap().contains("---[ end Kernel panic"));
        assert!(Status::Panic { lines: pl }
            .to_string()
            .contains("No working init found"));
    }

    #[test]
    fn tail_is_capped() {
        let lines: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
        let p = parse(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(p.tail.len(), TAIL_LINES);
        assert_eq!(p.tail.back().unwrap(), "l99");
    }

    #[test]
    fn command_line() {
        let mut o = RunOptions::new(Arch::X86_64, "/k", "/i", "/log");
        o.append = " quiet rdinit=/x ".into();
        assert_eq!(
            o.cmdline(),
            "console=ttyS0 panic=-1 rdinit=/init quiet rdinit=/x"
        );
        let a = o.qemu_command_args(true);
        assert_eq!(&a[..5], ["-M", "q35", "-cpu", "host", "-enable-kvm"]);
        assert!(a.windows(2).any(|w| w == ["-serial", "stdio"]));
        assert!(a.contains(&"-no-reboot".to_string()));
        let a = RunOptions::new(Arch::Arm64, "/k", "/i", "/log").qemu_command_args(false);
        assert_eq!(&a[..4], ["-M", "virt", "-cpu", "max"]);
        assert!(RunOptions::new(Arch::Arm64, "/k", "/i", "/l")
            .cmdline()
            .starts_with("console=ttyAMA0 "));
        assert_eq!(Arch::parse("amd64"), Some(Arch::X86_64));
        assert_eq!(Arch::parse("aarch64"), Some(Arch::Arm64));
        assert_eq!(Arch::Mips.qemu_package(), "qemu-system-mips");
        assert_eq!(Arch::Mipsel.qemu_package(), "qemu-system-mips");
        assert_eq!(Arch::Mipsel.qemu_binary(), "qemu-system-mipsel");
        assert_eq!(Arch::Mips.with_byte_order(true), Arch::Mipsel);
        assert_eq!(Arch::Mipsel.with_byte_order(false), Arch::Mips);
        assert_eq!(Arch::X86_64.with_byte_order(true), Arch::X86_64);
        assert!(!Arch::Mipsel.big_endian() && Arch::Mips.big_endian());
    }

    #[test]
    fn kernel_start_lines() {
        let pre = marker(N, "");
        assert!(kernel_started("[    0.000000] Linux version 6.1.0", &pre));
        assert!(kernel_started(" [ 1.0] x", &pre));
        assert!(kernel_started(&m("start"), &pre));
        assert!(!kernel_started(
            "Probing EDD (edd=off to disable)... ok",
            &pre
        ));
        assert!(!kernel_started("SeaBIOS (version 1.16)", &pre));
        assert!(!kernel_started("[Boot] x", &pre));
    }

    /// A stand-in for QEMU: a shell script printing `body`'s output.
    fn fake_qemu(dir: &Path, body: &str) -> RunOptions {
        use std::os::unix::fs::PermissionsExt;
        let q = dir.join("fake-qemu");
        std::fs::write(&q, format!("#!/bin/sh\nM={}\n{body}\n", marker(N, ""))).unwrap();
        std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o755)).unwrap();
        let k = dir.join("kernel");
        std::fs::write(&k, "").unwrap();
        let mut o = RunOptions::new(Arch::X86_64, &k, &k, dir.join("console.log"));
        o.qemu = Some(q);
        o.kvm = KvmMode::Off;
        o
    }

    const GOOD: &str = "echo '[    0.000000] Linux version fake'\necho \"${M}start\"\n\
                        echo \"${M}release:fake\"\necho \"${M}script-exit:0\"\necho \"${M}done\"";

    #[test]
    fn fake_qemu_pass_timeout_panic_exit() {
        let dir = tempfile::tempdir().unwrap();
        let o = fake_qemu(dir.path(), GOOD);
        let out = run(&o, N).unwrap();
        assert_eq!(out.status, Status::Passed);
        assert_eq!(out.release.as_deref(), Some("fake"));
        assert_eq!(out.qemu_exit, Some(0));
        assert!(!out.kvm && out.kvm_fallback.is_none());
        assert!(out.command.contains(&"-no-reboot".to_string()));
        let log = std::fs::read_to_string(dir.path().join("console.log")).unwrap();
        assert!(
            log.starts_with("[    0.000000] Linux version fake\n") && log.ends_with(":done\n"),
            "{log}"
        );

        // A guest that hangs: killed at the timeout (exec, so that killing
        // the process closes the console).
        let mut o = fake_qemu(
            dir.path(),
            "echo \"${M}start\"\necho stuck here\nexec sleep 60",
        );
        o.timeout = Duration::from_millis(800);
        let out = run(&o, N).unwrap();
        assert_eq!(
            out.status,
            Status::Timeout {
                tail: vec![m("start"), "stuck here".into()]
            }
        );
        assert!(
            out.total_time < Duration::from_secs(5),
            "{:?}",
            out.total_time
        );
        assert_eq!(out.qemu_exit, None);

        // A panic, and QEMU that exits with an error and a message.
        let o = fake_qemu(
            dir.path(),
            "echo before\necho '[    1.0] Kernel panic - not syncing: fake'\n\
             echo '[    1.0] ---[ end Kernel panic - not syncing: fake ]---'\necho oops >&2\nexit 1",
        );
        let out = run(&o, N).unwrap();
        assert_eq!(out.status.kind(), "panic");
        assert_eq!(out.qemu_exit, Some(1));
        assert_eq!(out.qemu_stderr, "oops\n");

        // No done marker: QEMU exits early.
        let o = fake_qemu(dir.path(), "echo \"${M}start\"\nexit 0");
        let out = run(&o, N).unwrap();
        assert_eq!(
            out.status,
            Status::NoDoneMarker {
                tail: vec![m("start")]
            }
        );
        assert_eq!(
            out.boot_time.map(|d| d < Duration::from_secs(5)),
            Some(true)
        );
    }

    /// With `KvmMode::Auto` and a usable /dev/kvm, a KVM run that prints
    /// nothing is abandoned for TCG.
    #[test]
    fn kvm_stall_falls_back_to_tcg() {
        if Arch::host() != Some(Arch::X86_64) || !kvm_usable() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "case \"$*\" in *-enable-kvm*) echo 'Probing EDD'; exec sleep 60;; esac\n{GOOD}"
        );
        let mut o = fake_qemu(dir.path(), &body);
        o.kvm = KvmMode::Auto;
        let out = run(&o, N).unwrap();
        assert_eq!(out.status, Status::Passed);
        assert!(!out.kvm);
        let why = out.kvm_fallback.unwrap();
        assert!(why.contains("printed nothing"), "{why}");
        assert!(out.total_time >= KVM_STALL);
        assert!(!out.command.contains(&"-enable-kvm".to_string()));
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("k");
        std::fs::write(&k, "").unwrap();
        for (arch, pkg) in [
            (Arch::X86_64, "qemu-system-x86"),
            (Arch::Arm64, "qemu-system-arm"),
            (Arch::Mips, "qemu-system-mips"),
            (Arch::Mipsel, "qemu-system-mips"),
        ] {
            let mut o = RunOptions::new(arch, &k, &k, dir.path().join("log"));
            o.qemu = Some("qemu-system-kforge-nonexistent".into());
            match run(&o, N) {
                Err(e @ Error::QemuMissing { .. }) => {
                    let s = e.to_string();
                    assert!(
                        s.contains(pkg) && s.contains("qemu-system-kforge-nonexistent"),
                        "{s}"
                    );
                }
                r => panic!("{r:?}"),
            }
        }
    }
}
