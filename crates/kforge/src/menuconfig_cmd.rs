//! `kforge menuconfig`: a terminal UI over the engine, after resolving the
//! declaration; saving writes the changes back as requests. The logic lives
//! in the `menu` crate; this is the thin drawing and key-reading layer
//! (ratatui over crossterm).

use std::io::IsTerminal;
use std::path::PathBuf;

use kforge_menuconfig::{Action, Key, Mode, Model};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::config_cmd::{self, ConfigError};

/// The smallest terminal the layout fits in.
pub const MIN_WIDTH: u16 = 40;
/// The smallest terminal height the layout fits in.
pub const MIN_HEIGHT: u16 = 10;

/// Browse and edit the configuration a kernel.toml resolves to, with the
/// keys of `make menuconfig`; save writes the changes back as requests.
#[derive(Debug, clap::Args)]
pub struct MenuconfigArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Save the changes to this TOML file (a `[config]` table to include)
    /// instead of into the declaration
    #[arg(long = "output", short = 'o', value_name = "FRAGMENT")]
    pub output: Option<PathBuf>,
    /// Run every $(shell,...) probe instead of using the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

/// `kforge menuconfig`.
pub fn run(args: MenuconfigArgs) -> i32 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "error: kforge menuconfig needs a terminal: its standard input and output must be a tty \
             (use `kforge config` in scripts)"
        );
        return 1;
    }
    let mut model = match prepare(&args) {
        Ok(m) => m,
        Err(e) => {
            eprint!("{}", config_cmd::render_error(&e));
            return 1;
        }
    };
    match run_tui(&mut model) {
        Ok(()) => {
            if !model.status.is_empty() {
                eprintln!("{}", model.status);
            }
            0
        }
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            1
        }
    }
}

fn prepare(args: &MenuconfigArgs) -> Result<Model, ConfigError> {
    let spec = kforge_declaration::Spec::load(&args.spec)?;
    let tree = match &args.tree {
        Some(t) => t.clone(),
        None => crate::source::unpacked_tree(&spec)?,
    };
    eprintln!(
        "resolving {} against {} ...",
        args.spec.display(),
        tree.display()
    );
    let r = config_cmd::resolve_spec(&spec, &tree, !args.no_probe_cache)?;
    let (declared, tv) = (spec.source.version, r.tree.version);
    let warning = ((declared.major, declared.minor) != (tv.major, tv.minor)).then(|| {
        format!(
            "warning: the tree is Linux {}.{}.{}, the declaration says {} (since/until are compared with the tree's version)",
            tv.major, tv.minor, tv.patch, spec.source.version_text
        )
    });
    let ctx = kforge_menuconfig::Context {
        spec_path: args.spec.clone(),
        output: args.output.clone(),
        input: Some(r.input),
        base_config: r.res.base_config,
        outcomes: r.res.outcomes,
        active_conditions: r.res.active_conditions,
        auto_modules: r.res.auto_modules,
    };
    let mut model = Model::new(r.tree.kc, ctx);
    if let Some(w) = warning {
        model.status = w;
    }
    Ok(model)
}

/// The model's keys for a terminal key: Ctrl-C leaves the current window
/// (quits at the top), and Alt+key is Esc then key (a terminal sends the
/// two that way when typed quickly).
fn keys_of(code: KeyCode, mods: KeyModifiers, mode: &Mode) -> Vec<Key> {
    if mods.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('c') {
        return vec![if *mode == Mode::Browse {
            Key::Char('q')
        } else {
            Key::Esc
        }];
    }
    let Some(k) = key_of(code) else {
        return Vec::new();
    };
    if mods.contains(KeyModifiers::ALT) {
        vec![Key::Esc, k]
    } else {
        vec![k]
    }
}

fn key_of(code: KeyCode) -> Option<Key> {
    Some(match code {
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::F(n) => Key::F(n),
        KeyCode::Char(c) => Key::Char(c),
        _ => return None,
    })
}

fn run_tui(model: &mut Model) -> std::io::Result<()> {
    let mut term = ratatui::init();
    let result = (|| loop {
        term.draw(|f| draw(f, model))?;
        if let Event::Key(k) = event::read()? {
            if k.kind != KeyEventKind::Press {
                continue;
            }
            for key in keys_of(k.code, k.modifiers, &model.mode) {
                if model.handle(key) == Action::Quit {
                    return Ok(());
                }
            }
        }
    })();
    ratatui::restore();
    result
}

/// Draw the whole screen from the model.
pub fn draw(f: &mut Frame, model: &mut Model) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small ({}x{}): kforge menuconfig needs at least {MIN_WIDTH}x{MIN_HEIGHT}. Enlarge the window, or press q to quit.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let title = Rect::new(area.x, area.y, area.width, 1);
    let keys = Rect::new(area.x, area.y + 1, area.width, 1);
    let list = Rect::new(area.x, area.y + 2, area.width, area.height - 4);
    let origin = Rect::new(area.x, area.y + area.height - 2, area.width, 1);
    let status = Rect::new(area.x, area.y + area.height - 1, area.width, 1);
    let inverse = Style::new().add_modifier(Modifier::REVERSED);
    f.render_widget(
        Paragraph::new(format!(
            " {}{}",
            model.title(),
            if model.dirty() { "  [modified]" } else { "" }
        ))
        .style(inverse),
        title,
    );
    f.render_widget(
        Paragraph::new(
            " Enter:open  y/m/n/space:set  /:search  ?:help  z:all  s:save  q:quit   D=declared S=selected *=changed",
        )
        .style(Style::new().fg(Color::Cyan)),
        keys,
    );
    model.page = list.height.max(1) as usize;
    model.rebuild();
    let v = *model.view();
    let mut lines = Vec::new();
    for i in v.offset..(v.offset + list.height as usize).min(model.rows.len()) {
        let t = model.row_text(i);
        let mut style = Style::new();
        if !t.visible {
            style = style.fg(Color::DarkGray);
        }
        if i == v.cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(Span::styled(
            format!(" {} {:<5} {}", t.marker, t.value, t.text),
            style,
        )));
    }
    if model.rows.is_empty() {
        lines.push(Line::from(" (nothing visible here; z shows every entry)"));
    }
    f.render_widget(Paragraph::new(lines), list);
    let o = model.origin_line();
    f.render_widget(
        Paragraph::new(format!(" {o}")).style(Style::new().fg(Color::Yellow)),
        origin,
    );
    f.render_widget(Paragraph::new(format!(" {}", model.status)), status);
    let mode = model.mode.clone();
    match mode {
        Mode::Browse => {}
        Mode::Help(h) => {
            let r = centered(area, area.width.saturating_sub(4), area.height - 2);
            let text: Vec<Line> = h
                .lines
                .iter()
                .skip(h.scroll)
                .map(|l| Line::from(l.as_str()))
                .collect();
            let hint = if h.fix.is_some() {
                " Enter/a: accept the fix  Esc: close  Up/Down: scroll "
            } else {
                " Esc: close  Up/Down: scroll "
            };
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(text).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" {} ", h.title))
                        .title_bottom(hint),
                ),
                r,
            );
        }
        Mode::Search(s) => {
            let r = centered(area, area.width.saturating_sub(4), area.height - 2);
            let inner_h = r.height.saturating_sub(3) as usize;
            let start = s.cursor.saturating_sub(inner_h.saturating_sub(1));
            let mut text = vec![Line::from(format!("Search: {}_", s.query))];
            for (i, h) in s.hits.iter().enumerate().skip(start).take(inner_h) {
                let loc = model.location(h.sym);
                let st = if i == s.cursor { inverse } else { Style::new() };
                text.push(Line::from(Span::styled(
                    format!(
                        "{}  {}{}",
                        h.name,
                        h.prompt,
                        if loc.is_empty() {
                            String::new()
                        } else {
                            format!("  [{loc}]")
                        }
                    ),
                    st,
                )));
            }
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(text).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" Search symbols: {} found ", s.hits.len()))
                        .title_bottom(" type to search  Up/Down  Enter: go there  Esc: close "),
                ),
                r,
            );
        }
        Mode::Edit { sym, buffer } => {
            let r = centered(area, area.width.saturating_sub(8).min(70), 5);
            let s = model.kc.sym(sym);
            let title = format!(" {} ({}) ", s.display_name(), s.ty.name());
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(format!("{buffer}_")).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(title)
                        .title_bottom(" Enter: set  Esc: cancel "),
                ),
                r,
            );
        }
        Mode::ConfirmQuit => {
            let r = centered(area, area.width.saturating_sub(8).min(70), 5);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(format!(
                    "Save your changes to {}?  (y)es  (n)o  (Esc) back",
                    model.save_path().display()
                ))
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::ALL).title(" Quit ")),
                r,
            );
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
