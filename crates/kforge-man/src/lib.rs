//! kforge's manual pages, rendered from its command line (a
//! `clap::Command`), so they list exactly the subcommands and options the
//! binary accepts.
//!
//! [`main_page`] is kforge(1): the synopsis, the options, every subcommand
//! with its one-line description, and a SEE ALSO section naming the
//! subcommands' own pages. [`write_pages`] writes those pages: `kforge.1`
//! and one `kforge-<sub>.1` per subcommand, nested subcommands included
//! (`kforge-modules-closure.1`), each with its full option list.

use std::io::Write;
use std::path::Path;

/// kforge(1) for the command line `cmd`.
pub fn main_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    render_main_page(&man_command(cmd), &mut page)?;
    Ok(page)
}

/// Every page of `cmd` into `dir` (created if missing): kforge.1 and
/// `kforge-<sub>.1` for each subcommand, nested ones included. Returns the
/// number of pages written.
pub fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<usize> {
    fn write_subpages(cmd: &clap::Command, dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for sub in visible_subcommands(cmd) {
            let name = sub.get_display_name().unwrap_or(sub.get_name());
            let mut page = Vec::new();
            render_page(sub.clone(), &mut page)?;
            std::fs::write(dir.join(format!("{name}.1")), page)?;
            n += 1 + write_subpages(sub, dir)?;
        }
        Ok(n)
    }
    let cmd = man_command(cmd);
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    render_main_page(&cmd, &mut page)?;
    std::fs::write(dir.join("kforge.1"), page)?;
    Ok(1 + write_subpages(&cmd, dir)?)
}

/// The command line as the pages describe it: without clap's `help`
/// subcommand (`--help` stays), built so that subcommands know their full
/// names (`kforge-config`).
fn man_command(cmd: clap::Command) -> clap::Command {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// One page rendered by clap_mangen, with its `.TH` line moved first: the
/// page opens with its title, then defines the `\\*(Aq` string it uses for
/// apostrophes (clap_mangen writes the definition before the title).
fn render_page(cmd: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(concat!("kforge ", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    let mut lines: Vec<&str> = page.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let th = lines.remove(i);
        lines.insert(0, th);
    }
    out.extend_from_slice((lines.join("\n") + "\n").as_bytes());
    Ok(())
}

/// kforge(1): the synopsis, options and subcommands, then SEE ALSO naming
/// each subcommand's page.
fn render_main_page(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let subs: Vec<String> = visible_subcommands(cmd)
        .map(|s| format!("kforge-{}", s.get_name()))
        .collect();
    render_page(cmd.clone(), out)?;
    let mut see_also = String::from(".SH \"SEE ALSO\"\n");
    for (i, name) in subs.iter().enumerate() {
        let sep = if i + 1 < subs.len() { "," } else { "" };
        // \% keeps a name from being hyphenated across lines.
        let name = name.replace('-', "\\-");
        see_also.push_str(&format!(".BR \\%{name} (1){sep}\n"));
    }
    see_also.push_str(
        ".PP\nThe subcommands' pages are written by \\fBkforge man \\-\\-dir\\fR \\fIDIR\\fR. \
         The manual is docs/README.md in kforge's source.\n",
    );
    out.write_all(see_also.as_bytes())
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}
