//! JUnit XML reports of test runs, the format CI systems (GitLab, Jenkins,
//! GitHub test reporters) read: one `<testsuite>` of `<testcase>`s, each
//! with a `<failure>` (message and console text) when it did not pass.

use crate::{io_err, Error, Outcome, Status};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// One test's result in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The test's name.
    pub name: String,
    /// The group it belongs to (CI systems show it as the class).
    pub classname: String,
    /// How long it took.
    pub time: Duration,
    /// `None` when it passed.
    pub failure: Option<Failure>,
    /// Extra output shown with the test (`<system-out>`).
    pub system_out: Option<String>,
}

/// Why a test failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A short kind (`type` attribute), e.g. [`Status::kind`].
    pub kind: String,
    /// A one-line message.
    pub message: String,
    /// Details: the panic lines or the console tail.
    pub text: String,
}

impl TestCase {
    /// A case that ended in an error before anything ran.
    pub fn error(classname: &str, name: &str, message: String) -> TestCase {
        TestCase {
            name: name.to_string(),
            classname: classname.to_string(),
            time: Duration::ZERO,
            failure: Some(Failure {
                kind: "error".into(),
                message,
                text: String::new(),
            }),
            system_out: None,
        }
    }

    /// A case that passed without running, with a note why (a dry run).
    pub fn noted(classname: &str, name: &str, note: &str) -> TestCase {
        TestCase {
            name: name.to_string(),
            classname: classname.to_string(),
            time: Duration::ZERO,
            failure: None,
            system_out: Some(note.to_string()),
        }
    }

    /// The case for a run's [`Outcome`]: a failure carrying the status
    /// message and the panic lines or console tail; the release, the boot
    /// times and the KVM use as system output.
    pub fn from_outcome(classname: &str, name: &str, o: &Outcome) -> TestCase {
        let failure = (!o.status.passed()).then(|| {
            let lines = match &o.status {
                Status::Panic { lines } => lines,
                Status::Timeout { tail } | Status::NoDoneMarker { tail } => tail,
                _ => &o.console_tail,
            };
            let mut text = lines.join("\n");
            if !o.qemu_stderr.trim().is_empty() {
                let _ = write!(text, "\n--- QEMU stderr ---\n{}", o.qemu_stderr.trim_end());
            }
            Failure {
                kind: o.status.kind().to_string(),
                message: o.status.to_string(),
                text,
            }
        });
        let secs =
            |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.3}s", d.as_secs_f64()));
        let mut out = format!(
            "release: {}\nkvm: {}\nboot (QEMU start to /init): {}\nQEMU start to done: {}\n",
            o.release.as_deref().unwrap_or("-"),
            o.kvm,
            secs(o.boot_time),
            secs(o.done_time),
        );
        if let Some(why) = &o.kvm_fallback {
            let _ = writeln!(out, "no KVM: {why}");
        }
        TestCase {
            name: name.to_string(),
            classname: classname.to_string(),
            time: o.total_time,
            failure,
            system_out: Some(out),
        }
    }
}

/// The JUnit XML document of one test suite named `suite`.
pub fn to_xml(suite: &str, cases: &[TestCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: Duration = cases.iter().map(|c| c.time).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
        cases.len(),
        secs(total)
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
        attr(suite),
        cases.len(),
        secs(total)
    );
    for c in cases {
        let _ = write!(
            s,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            attr(&c.name),
            attr(&c.classname),
            secs(c.time)
        );
        if c.failure.is_none() && c.system_out.is_none() {
            s.push_str("/>\n");
            continue;
        }
        s.push_str(">\n");
        if let Some(f) = &c.failure {
            let _ = writeln!(
                s,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                attr(&f.kind),
                attr(&f.message),
                text(&f.text)
            );
        }
        if let Some(o) = &c.system_out {
            let _ = writeln!(s, "      <system-out>{}</system-out>", text(o));
        }
        s.push_str("    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// Writes [`to_xml`]'s document to `path`.
pub fn write_file(path: &Path, suite: &str, cases: &[TestCase]) -> Result<(), Error> {
    std::fs::write(path, to_xml(suite, cases)).map_err(io_err("writing", path))
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Escapes character data: `&`, `<`, `>`, and characters XML 1.0 cannot
/// carry at all (control characters such as the console's ESC) shown as
/// `\xHH`.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value: as [`text`], plus quotes, and tab and line
/// breaks as character references (so they survive attribute
/// normalisation).
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' if attribute => o.push_str("&quot;"),
            '\'' if attribute => o.push_str("&apos;"),
            '\n' if attribute => o.push_str("&#10;"),
            '\r' if attribute => o.push_str("&#13;"),
            '\t' if attribute => o.push_str("&#9;"),
            '\n' | '\r' | '\t' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::LoaderResult;

    fn outcome(status: Status) -> Outcome {
        Outcome {
            status,
            release: Some("6.1.0-47-amd64".into()),
            loaders: vec![LoaderResult {
                name: "nft".into(),
                load: Some(0),
                unload: Some(0),
            }],
            script_exit: Some(3),
            boot_time: Some(Duration::from_millis(1500)),
            done_time: Some(Duration::from_millis(1700)),
            total_time: Duration::from_millis(2250),
            console_tail: vec!["a < b && c > d".into(), "\u{1b}[0mcolour\u{7}".into()],
            kvm: true,
            kvm_fallback: None,
            command: vec!["qemu-system-x86_64".into()],
            qemu_exit: Some(0),
            qemu_stderr: String::new(),
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            text("a<b>&c \"q\" 'a'\n\t"),
            "a&lt;b&gt;&amp;c \"q\" 'a'\n\t"
        );
        assert_eq!(
            attr("a<b>&c \"q\" 'a'\n\t"),
            "a&lt;b&gt;&amp;c &quot;q&quot; &apos;a&apos;&#10;&#9;"
        );
        assert_eq!(text("\u{1b}[1m\u{0}x\u{7f}"), "\\x1b[1m\\x00x\\x7f");
        assert_eq!(text("ünïcødé ✓"), "ünïcødé ✓");
    }

    /// Three cases: passed, a failed script, a bare one.
    fn sample_cases() -> Vec<TestCase> {
        vec![
            TestCase::from_outcome("kforge.test", "boots", &outcome(Status::Passed)),
            TestCase::from_outcome(
                "kforge.test",
                "exit \"3\"",
                &outcome(Status::ScriptFailed { exit: 3 }),
            ),
            TestCase {
                name: "bare".into(),
                classname: "c".into(),
                time: Duration::from_millis(5),
                failure: None,
                system_out: None,
            },
        ]
    }

    #[test]
    fn structure() {
        let cases = sample_cases();
        let x = to_xml("kforge <test>", &cases);
        assert!(x.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"3\" failures=\"1\""
        ));
        assert!(x.contains(
            "<testsuite name=\"kforge &lt;test&gt;\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"4.505\">"
        ));
        assert!(x.contains("<testcase name=\"boots\" classname=\"kforge.test\" time=\"2.250\">"));
        assert!(x.contains("<testcase name=\"exit &quot;3&quot;\""));
        assert!(x.contains(
            "<failure type=\"script-failed\" message=\"the test script exited 3\">a &lt; b &amp;&amp; c &gt; d\n\\x1b[0mcolour\\x07</failure>"
        ));
        assert!(x.contains("<testcase name=\"bare\" classname=\"c\" time=\"0.005\"/>"));
        assert!(x.contains(
            "<system-out>release: 6.1.0-47-amd64\nkvm: true\nboot (QEMU start to /init): 1.500s"
        ));
        assert_eq!(x.matches("<testcase ").count(), 3);
        assert_eq!(x.matches("</testcase>").count(), 2);
        assert_eq!(x.matches("<failure ").count(), 1);
        assert!(x.ends_with("  </testsuite>\n</testsuites>\n"));
    }

    /// Well-formed by a real XML parser (python3's minidom, the oracle): a
    /// second-tier test (`oracle-tests`), as it runs a host program.
    #[cfg(feature = "oracle-tests")]
    #[test]
    fn a_real_parser_reads_it() {
        let x = to_xml("kforge <test>", &sample_cases());
        let mut c = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, xml.dom.minidom as m; m.parseString(sys.stdin.buffer.read())",
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("python3 not found: apt-get install python3");
        use std::io::Write;
        c.stdin.take().unwrap().write_all(x.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "{x}");
    }

    #[test]
    fn panic_failure_uses_panic_lines_and_stderr() {
        let mut o = outcome(Status::Panic {
            lines: vec!["before".into(), "Kernel panic - not syncing: boom".into()],
        });
        o.qemu_stderr = "qemu: warning\n".into();
        let c = TestCase::from_outcome("k", "p", &o);
        let f = c.failure.unwrap();
        assert_eq!(f.kind, "panic");
        assert_eq!(f.message, "kernel panic: Kernel panic - not syncing: boom");
        assert_eq!(
            f.text,
            "before\nKernel panic - not syncing: boom\n--- QEMU stderr ---\nqemu: warning"
        );
    }
}
