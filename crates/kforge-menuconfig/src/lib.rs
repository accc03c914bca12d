//! The model behind `kforge menuconfig`: the kernel's menu tree over a
//! resolved declaration, navigated and edited with the keys of `make
//! menuconfig`/`nconfig`, with no terminal in sight.
//!
//! A [`Model`] owns the engine ([`kconfig_engine::Kconfig`], in the state the
//! resolver left it) and what the declaration requested. Keys go in through
//! [`Model::handle`]; what to draw comes out of [`Model::rows`],
//! [`Model::title`], [`Model::status`] and [`Model::mode`]. Setting a value
//! goes through the engine, which recomputes everything that depends on it.
//! A value that cannot be set is explained by resolving again with it
//! requested ([`kforge_resolve::check_request`]), which also finds the further
//! requests that make it hold. Saving writes the changed symbols back as
//! requests ([`kforge_declaration::edit`]).

mod search;
pub mod tui;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::{Kconfig, MenuId, PropKind, SymType, SymbolId, Tri, ROOT_MENU};
use kforge_declaration::{Layer, Origin, Priority, RequestValue};
use kforge_resolve::{Input, Outcome};

pub use search::{Hit, SearchIndex};

/// Name under which the model hands configurations to the engine.
const MEMORY_CONFIG: &str = "<kforge:menuconfig>";

/// What the model knows of the declaration it edits.
#[derive(Debug, Clone)]
pub struct Context {
    /// The declaration (`kernel.toml`).
    pub spec_path: PathBuf,
    /// Save into this fragment instead of the declaration (`--output`).
    pub output: Option<PathBuf>,
    /// What was resolved; `None` disables explanations by re-resolving.
    pub input: Option<Input>,
    /// The base configuration the requests were applied to.
    pub base_config: String,
    /// The verdict on every request of the declaration.
    pub outcomes: Vec<Outcome>,
    /// The `[when.X]` conditions that hold.
    pub active_conditions: Vec<String>,
    /// The symbols `auto_modules` made modules.
    pub auto_modules: Vec<String>,
}

/// A request of the declaration, as the model shows it.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The value as written (`"m"`, `4`).
    pub value: String,
    pub origin: Origin,
    pub layer: Layer,
    pub priority: Priority,
    /// `[when.X]` that requested it.
    pub condition: Option<String>,
    /// Why it did not hold, first line.
    pub problem: Option<String>,
}

/// A key, as the terminal layer translates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Left,
    Right,
    Backspace,
    /// F1..F12.
    F(u8),
    Char(char),
}

/// What the caller should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Quit,
}

/// One level of the menu stack: a menu (or the root) or an open choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub menu: MenuId,
    pub choice: bool,
    pub cursor: usize,
    pub offset: usize,
}

/// What a row of the current view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A `menu` (Enter descends).
    Menu,
    /// A `comment`.
    Comment,
    /// A symbol; `submenu` for `menuconfig` symbols (Enter descends).
    Symbol { sym: SymbolId, submenu: bool },
    /// A choice (Enter opens it).
    Choice(SymbolId),
    /// A member of the open choice.
    Member(SymbolId),
}

/// One line of the current view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub menu: MenuId,
    pub kind: RowKind,
    /// Indentation (dependent symbols sit under the one they depend on).
    pub depth: usize,
    /// False for an entry shown only because of "show all" (greyed).
    pub visible: bool,
}

/// Where a symbol's value comes from, as the marker column shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Changed in this session, not saved (`*`).
    Changed,
    /// Requested by the declaration, an included profile or a patch (`D`).
    Declared,
    /// Forced by a `select` (`S`).
    Selected,
    /// Its default or the base configuration (blank).
    Default,
}

impl Source {
    /// The marker character.
    pub fn marker(self) -> char {
        match self {
            Source::Changed => '*',
            Source::Declared => 'D',
            Source::Selected => 'S',
            Source::Default => ' ',
        }
    }
}

/// A row as drawn: marker, value, prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText {
    pub marker: char,
    /// `[*]`, `<M>`, `-*-`, `(64)`, `(X)` for the chosen member, or empty.
    pub value: String,
    /// The prompt, with `--->` for what Enter descends into.
    pub text: String,
    pub visible: bool,
}

/// A scrollable text over the menu (help, explanations), maybe with a fix
/// the user can accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
    /// Requests that make a failed setting hold (checked), the setting last.
    pub fix: Option<Vec<(String, String)>>,
}

/// The search prompt and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub hits: Vec<Hit>,
    pub cursor: usize,
}

/// What has the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Browse,
    Search(Search),
    Help(Help),
    /// Editing a string/int/hex value.
    Edit {
        sym: SymbolId,
        buffer: String,
    },
    /// Quitting with unsaved changes: save first?
    ConfirmQuit,
}

/// The menuconfig session.
pub struct Model {
    pub kc: Kconfig,
    pub ctx: Context,
    pub declared: HashMap<String, Declared>,
    pub stack: Vec<View>,
    pub rows: Vec<Row>,
    pub mode: Mode,
    /// Show invisible entries too (greyed).
    pub show_all: bool,
    /// Rows per page, set by the terminal layer.
    pub page: usize,
    /// The message line.
    pub status: String,
    /// Symbols the user changed, with their value when first changed.
    pub changed: BTreeMap<String, String>,
    /// Symbols of accepted fixes (written even if the value looks unchanged).
    pub fixed: BTreeSet<String>,
    index: SearchIndex,
}

/// The value text of a symbol for the declaration (`y`, `64`, `0x10`).
fn request_value(ty: SymType, v: &str) -> RequestValue {
    match ty {
        SymType::Int => v
            .parse::<i64>()
            .map(RequestValue::Integer)
            .unwrap_or_else(|_| RequestValue::Text(v.to_string())),
        _ => RequestValue::Text(v.to_string()),
    }
}

impl Model {
    /// A session over `kc` (in its resolved state) for the declaration `ctx`.
    pub fn new(kc: Kconfig, ctx: Context) -> Model {
        let declared = ctx
            .outcomes
            .iter()
            .map(|o| {
                (
                    o.request.symbol.clone(),
                    Declared {
                        value: o.request.value.to_string(),
                        origin: o.request.origin.clone(),
                        layer: o.request.layer.clone(),
                        priority: o.request.priority,
                        condition: o.condition.clone(),
                        problem: o
                            .problem
                            .as_ref()
                            .map(|p| p.to_string().lines().next().unwrap_or("").to_string()),
                    },
                )
            })
            .collect();
        let index = SearchIndex::new(&kc);
        let mut m = Model {
            kc,
            ctx,
            declared,
            stack: vec![View {
                menu: ROOT_MENU,
                choice: false,
                cursor: 0,
                offset: 0,
            }],
            rows: Vec::new(),
            mode: Mode::Browse,
            show_all: false,
            page: 20,
            status: String::new(),
            changed: BTreeMap::new(),
            fixed: BTreeSet::new(),
            index,
        };
        m.rebuild();
        m.status =
            "Enter: open  y/m/n/space: set  /: search  ?: help  z: show all  s: save  q: quit"
                .to_string();
        m
    }

    /// The view on top of the stack.
    pub fn view(&self) -> &View {
        self.stack.last().expect("the root view")
    }

    fn view_mut(&mut self) -> &mut View {
        self.stack.last_mut().expect("the root view")
    }

    /// The row under the cursor.
    pub fn current(&self) -> Option<&Row> {
        self.rows.get(self.view().cursor)
    }

    /// The path of menus to the current view, `>`-separated.
    pub fn title(&self) -> String {
        let mut parts = Vec::new();
        for v in &self.stack {
            let p = if v.menu == ROOT_MENU {
                self.kc
                    .menu_prompt(ROOT_MENU)
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "Linux Kernel Configuration".into())
            } else {
                self.kc
                    .menu_prompt(v.menu)
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            };
            parts.push(p);
        }
        parts.join(" > ")
    }

    /// Are there changes that are not saved?
    pub fn dirty(&mut self) -> bool {
        let changed: Vec<(String, String)> = self
            .changed
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        changed
            .iter()
            .any(|(n, old)| self.value_of(n).as_deref() != Some(old.as_str()))
            || !self.fixed.is_empty()
    }

    fn value_of(&mut self, name: &str) -> Option<String> {
        let s = self.kc.find(name)?;
        self.kc.calc_value(s);
        Some(self.kc.string_value(s).to_string())
    }

    // ---- the rows of a view ------------------------------------------------

    /// Recompute the rows of the current view (after navigation or a change).
    pub fn rebuild(&mut self) {
        let v = *self.view();
        let mut rows = Vec::new();
        if v.choice {
            self.choice_rows(v.menu, 0, &mut rows);
        } else {
            self.menu_rows(v.menu, 0, &mut rows);
        }
        self.rows = rows;
        let n = self.rows.len();
        let page = self.page.max(1);
        let view = self.view_mut();
        view.cursor = view.cursor.min(n.saturating_sub(1));
        if view.cursor < view.offset {
            view.offset = view.cursor;
        } else if view.cursor >= view.offset + page {
            view.offset = view.cursor + 1 - page;
        }
    }

    fn is_menu_node(&self, m: MenuId) -> bool {
        self.kc
            .menu(m)
            .prompt
            .is_some_and(|p| self.kc.prop(p).kind == PropKind::Menu)
    }

    fn is_choice_node(&self, m: MenuId) -> bool {
        self.kc.menu(m).sym.is_some_and(|s| self.kc.is_choice(s))
    }

    fn menu_rows(&mut self, parent: MenuId, depth: usize, out: &mut Vec<Row>) {
        let mut c = self.kc.menu(parent).list;
        while let Some(m) = c {
            c = self.kc.menu(m).next;
            self.node_rows(m, depth, out);
        }
    }

    fn node_rows(&mut self, m: MenuId, depth: usize, out: &mut Vec<Row>) {
        let visible = self.kc.menu_is_visible(m);
        let Some(p) = self.kc.menu(m).prompt else {
            // An `if` block or a definition without a prompt: nothing to
            // show itself; what it contains may still be shown.
            if visible || self.show_all {
                self.menu_rows(m, depth, out);
            }
            return;
        };
        if !visible && !self.show_all {
            return;
        }
        let kind = self.kc.prop(p).kind;
        let row = |kind| Row {
            menu: m,
            kind,
            depth,
            visible,
        };
        match self.kc.menu(m).sym {
            None if kind == PropKind::Comment => out.push(row(RowKind::Comment)),
            None => out.push(row(RowKind::Menu)),
            Some(s) if self.kc.is_choice(s) => out.push(row(RowKind::Choice(s))),
            Some(s) => {
                let submenu = kind == PropKind::Menu;
                out.push(row(RowKind::Symbol { sym: s, submenu }));
                if !submenu {
                    self.menu_rows(m, depth + 1, out);
                }
            }
        }
    }

    fn choice_rows(&mut self, choice: MenuId, depth: usize, out: &mut Vec<Row>) {
        let mut c = self.kc.menu(choice).list;
        while let Some(m) = c {
            c = self.kc.menu(m).next;
            let visible = self.kc.menu_is_visible(m);
            if !visible && !self.show_all {
                continue;
            }
            match self.kc.menu(m).sym {
                Some(s) if self.kc.is_choice_value(s) => {
                    out.push(Row {
                        menu: m,
                        kind: RowKind::Member(s),
                        depth,
                        visible,
                    });
                    self.menu_rows(m, depth + 1, out);
                }
                _ => self.node_rows(m, depth, out),
            }
        }
    }

    // ---- what a row shows ----------------------------------------------------

    /// Where `s`'s value comes from.
    pub fn source(&mut self, s: SymbolId) -> Source {
        let name = self.kc.sym(s).display_name().to_string();
        if self.changed.contains_key(&name) || self.fixed.contains(&name) {
            return Source::Changed;
        }
        if self.declared.contains_key(&name) {
            return Source::Declared;
        }
        self.kc.calc_value(s);
        if self.kc.sym(s).rev_dep_tri != Tri::No {
            return Source::Selected;
        }
        Source::Default
    }

    /// The value column of `s`: `[*]`, `< >`, `{M}`, `-*-`, `(text)`.
    pub fn value_text(&mut self, s: SymbolId) -> String {
        self.kc.calc_value(s);
        let ty = self.kc.effective_type(s);
        let t = self.kc.tristate_value(s);
        let sym = self.kc.sym(s);
        let fixed = !self.kc.is_changeable(s);
        let selected = sym.rev_dep_tri != Tri::No;
        match ty {
            SymType::Bool | SymType::Tristate => {
                let c = match t {
                    Tri::Yes => '*',
                    Tri::Mod => 'M',
                    Tri::No => ' ',
                };
                if fixed {
                    let c = if c == ' ' { '-' } else { c };
                    format!("-{c}-")
                } else if selected {
                    format!("{{{c}}}")
                } else if ty == SymType::Bool {
                    format!("[{c}]")
                } else {
                    format!("<{c}>")
                }
            }
            SymType::Int | SymType::Hex | SymType::String => {
                format!("({})", self.kc.string_value(s))
            }
            SymType::Unknown => String::new(),
        }
    }

    /// The member of the choice at `choice` that is selected.
    pub fn choice_selection(&mut self, choice: MenuId) -> Option<SymbolId> {
        for m in self.kc.menu_subtree(choice) {
            if let Some(s) = self.kc.menu(m).sym {
                if self.kc.is_choice_value(s) {
                    self.kc.calc_value(s);
                    if self.kc.tristate_value(s) == Tri::Yes {
                        return Some(s);
                    }
                }
            }
        }
        None
    }

    fn prompt_of_sym(&self, s: SymbolId) -> String {
        self.kc
            .sym(s)
            .menus
            .iter()
            .find_map(|&m| self.kc.menu_prompt(m))
            .map(|p| p.to_string())
            .unwrap_or_else(|| self.kc.sym(s).display_name().to_string())
    }

    /// The text of row `i` of the current view.
    pub fn row_text(&mut self, i: usize) -> RowText {
        let row = self.rows[i].clone();
        let prompt = self
            .kc
            .menu_prompt(row.menu)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let indent = "  ".repeat(row.depth);
        let (marker, value, text) = match row.kind {
            RowKind::Menu => (' ', String::new(), format!("{indent}{prompt}  --->")),
            RowKind::Comment => (' ', String::new(), format!("{indent}*** {prompt} ***")),
            RowKind::Symbol { sym, submenu } => {
                let value = self.value_text(sym);
                let name = self.kc.sym(sym).display_name().to_string();
                let arrow = if submenu { "  --->" } else { "" };
                (
                    self.source(sym).marker(),
                    value,
                    format!("{indent}{prompt} ({name}){arrow}"),
                )
            }
            RowKind::Choice(s) => {
                let sel = self
                    .choice_selection(row.menu)
                    .map(|m| format!(" ({})", self.prompt_of_sym(m)))
                    .unwrap_or_default();
                // A 6.1 tristate choice shows its mode (nothing selects a
                // choice: no braces).
                let value = if self.tristate_choice(s) {
                    self.kc.calc_value(s);
                    match self.kc.tristate_value(s) {
                        Tri::Yes => "<*>",
                        Tri::Mod => "<M>",
                        Tri::No => "< >",
                    }
                    .to_string()
                } else {
                    String::new()
                };
                (' ', value, format!("{indent}{prompt}{sel}  --->"))
            }
            RowKind::Member(s) => {
                self.kc.calc_value(s);
                let name = self.kc.sym(s).display_name().to_string();
                // Members of a 6.1 tristate choice in mode m are modules
                // each, shown and set as tristates.
                let cs = self.kc.sym(s).choice_of;
                let value = match cs {
                    Some(cs)
                        if self.tristate_choice(cs) && self.kc.tristate_value(cs) == Tri::Mod =>
                    {
                        self.value_text(s)
                    }
                    _ if self.kc.tristate_value(s) == Tri::Yes => "(X)".to_string(),
                    _ => "( )".to_string(),
                };
                (
                    self.source(s).marker(),
                    value,
                    format!("{indent}{prompt} ({name})"),
                )
            }
        };
        RowText {
            marker,
            value,
            text,
            visible: row.visible,
        }
    }

    /// One line on where the value under the cursor comes from.
    pub fn origin_line(&mut self) -> String {
        let Some(s) = self.current().and_then(|r| match r.kind {
            RowKind::Symbol { sym, .. } | RowKind::Member(sym) => Some(sym),
            _ => None,
        }) else {
            return String::new();
        };
        let name = self.kc.sym(s).display_name().to_string();
        let value = self.kc.string_value(s).to_string();
        match self.source(s) {
            Source::Changed => format!("{name} = {value}: changed here, not saved yet"),
            Source::Declared => {
                let d = &self.declared[&name];
                let from = match &d.layer {
                    Layer::Include => format!(" (included profile {})", d.origin.file.display()),
                    Layer::Patch(p) => format!(" (patch {p})"),
                    Layer::External(e) => format!(" (external module {e})"),
                    Layer::Fragment(f) => format!(" (fragment {f}, {})", d.origin.file.display()),
                    Layer::Main => String::new(),
                };
                let when = d
                    .condition
                    .as_ref()
                    .map(|c| format!(" while [when.{c}] holds"))
                    .unwrap_or_default();
                let bad = d
                    .problem
                    .as_ref()
                    .map(|p| format!("; did not hold: {p}"))
                    .unwrap_or_default();
                let at = if d.origin.line == 0 {
                    format!("saved to {}", d.origin.file.display())
                } else {
                    format!("at {}", d.origin)
                };
                format!(
                    "{name} = {value}: requested {} {at}{from}{when}{bad}",
                    d.value
                )
            }
            Source::Selected => {
                let by = kforge_resolve::explain_symbol(&mut self.kc, &name)
                    .map(|r| {
                        r.selectors
                            .iter()
                            .filter(|s| s.active && s.kind == "select")
                            .map(|s| s.symbol.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!("{name} = {value}: selected by {by}")
            }
            Source::Default => {
                let why = kforge_resolve::explain_symbol(&mut self.kc, &name)
                    .map(|r| r.reason)
                    .unwrap_or_default();
                format!("{name} = {value}: {why}")
            }
        }
    }

    // ---- keys ----------------------------------------------------------------

    /// Handle one key.
    pub fn handle(&mut self, key: Key) -> Action {
        match std::mem::replace(&mut self.mode, Mode::Browse) {
            Mode::Browse => return self.browse_key(key),
            Mode::Search(s) => self.search_key(s, key),
            Mode::Help(h) => self.help_key(h, key),
            Mode::Edit { sym, buffer } => self.edit_key(sym, buffer, key),
            Mode::ConfirmQuit => return self.confirm_key(key),
        }
        Action::Continue
    }

    fn move_cursor(&mut self, to: isize) {
        let n = self.rows.len() as isize;
        let v = self.view_mut();
        v.cursor = to.clamp(0, (n - 1).max(0)) as usize;
        self.rebuild();
    }

    fn browse_key(&mut self, key: Key) -> Action {
        let cur = self.view().cursor as isize;
        let page = self.page.max(1) as isize;
        match key {
            Key::Up | Key::Char('k') => self.move_cursor(cur - 1),
            Key::Down | Key::Char('j') => self.move_cursor(cur + 1),
            Key::PageUp => self.move_cursor(cur - page),
            Key::PageDown => self.move_cursor(cur + page),
            Key::Home => self.move_cursor(0),
            Key::End => self.move_cursor(isize::MAX / 2),
            Key::Enter | Key::Right => self.enter(key == Key::Right),
            Key::Esc | Key::Left | Key::Backspace => {
                if self.stack.len() > 1 {
                    self.back();
                } else if key == Key::Esc {
                    return self.quit();
                }
            }
            Key::Char('q') => return self.quit(),
            Key::Char('y') => self.set_current(Tri::Yes),
            Key::Char('m') => self.set_current(Tri::Mod),
            Key::Char('n') => self.set_current(Tri::No),
            Key::Char(' ') => self.cycle_current(),
            Key::Char('/') | Key::F(8) => {
                self.mode = Mode::Search(Search {
                    query: String::new(),
                    hits: Vec::new(),
                    cursor: 0,
                })
            }
            Key::Char('?') | Key::F(1) | Key::F(2) => self.help_current(),
            Key::Char('z') | Key::F(4) => {
                self.show_all = !self.show_all;
                self.rebuild();
                self.status = if self.show_all {
                    "showing every entry; the greyed ones are not visible with these values"
                } else {
                    "showing the visible entries"
                }
                .to_string();
            }
            Key::Char('s') | Key::F(6) => {
                self.save();
            }
            _ => {}
        }
        Action::Continue
    }

    fn quit(&mut self) -> Action {
        if self.dirty() {
            self.mode = Mode::ConfirmQuit;
            Action::Continue
        } else {
            Action::Quit
        }
    }

    fn confirm_key(&mut self, key: Key) -> Action {
        match key {
            Key::Char('y') | Key::Enter => {
                if self.save() {
                    Action::Quit
                } else {
                    Action::Continue
                }
            }
            Key::Char('n') => Action::Quit,
            Key::Esc | Key::Char('c') => Action::Continue,
            _ => {
                self.mode = Mode::ConfirmQuit;
                Action::Continue
            }
        }
    }

    /// Enter on the current row: descend, open the choice, edit or toggle.
    fn enter(&mut self, only_descend: bool) {
        let Some(row) = self.current().cloned() else {
            return;
        };
        match row.kind {
            RowKind::Menu | RowKind::Symbol { submenu: true, .. } => {
                self.open(row.menu, false);
            }
            RowKind::Choice(_) => self.open(row.menu, true),
            _ if only_descend => {}
            RowKind::Member(s) => self.set_sym(s, Tri::Yes),
            RowKind::Symbol { sym, .. } => match self.kc.sym(sym).ty {
                SymType::Int | SymType::Hex | SymType::String => {
                    if !self.kc.is_changeable(sym) {
                        let v = self.kc.string_value(sym).to_string();
                        self.explain_failure(sym, &v);
                        return;
                    }
                    self.mode = Mode::Edit {
                        sym,
                        buffer: self.kc.string_value(sym).to_string(),
                    };
                }
                _ => self.cycle_current(),
            },
            RowKind::Comment => {}
        }
    }

    fn open(&mut self, menu: MenuId, choice: bool) {
        self.stack.push(View {
            menu,
            choice,
            cursor: 0,
            offset: 0,
        });
        self.rebuild();
    }

    fn back(&mut self) {
        self.stack.pop();
        self.rebuild();
    }

    fn set_current(&mut self, t: Tri) {
        match self.current().map(|r| r.kind) {
            Some(RowKind::Symbol { sym, .. }) | Some(RowKind::Member(sym)) => self.set_sym(sym, t),
            Some(RowKind::Choice(cs)) if self.tristate_choice(cs) => {
                let changed = self.set_choice_mode(cs, t);
                if t == Tri::Yes && changed {
                    let m = self.current().map(|r| r.menu).unwrap_or(ROOT_MENU);
                    self.open(m, true);
                }
            }
            Some(RowKind::Choice(_)) if t == Tri::Yes => {
                let m = self.current().map(|r| r.menu).unwrap_or(ROOT_MENU);
                self.open(m, true);
            }
            _ => {}
        }
    }

    /// A 6.1 tristate choice: `y` picks one member, `m` lets each member be
    /// a module (6.11 removed them; only 6.1-era trees have them).
    fn tristate_choice(&self, cs: SymbolId) -> bool {
        self.kc.dialect == kconfig_engine::Dialect::V6_1 && self.kc.sym(cs).ty == SymType::Tristate
    }

    /// Put a 6.1 tristate choice in mode `t` (y: one member; m: members
    /// as modules; n: none, when the choice is optional). The members whose
    /// values change are the changes saved. True if the mode was set.
    fn set_choice_mode(&mut self, cs: SymbolId, t: Tri) -> bool {
        self.kc.calc_value(cs);
        if self.kc.tristate_value(cs) == t {
            return true;
        }
        let members = self.kc.sym(cs).choice_members.clone();
        let names: Vec<String> = members
            .iter()
            .map(|&m| self.kc.sym(m).display_name().to_string())
            .collect();
        if self.refuse_pinned(&names, t.as_str()) {
            return false;
        }
        let before: Vec<Option<String>> = names.iter().map(|n| self.value_of(n)).collect();
        let prompt = self.prompt_of_sym(cs);
        if !self.kc.set_tristate_value(cs, t) {
            self.status = format!("the choice \"{prompt}\" cannot be {} here", t.as_str());
            return false;
        }
        let mut first = None;
        for (n, old) in names.iter().zip(before) {
            if let Some(old) = old {
                if self.value_of(n).as_deref() != Some(old.as_str()) {
                    self.changed.entry(n.clone()).or_insert(old);
                    first.get_or_insert_with(|| n.clone());
                }
            }
        }
        match first {
            Some(n) => self.settle(&n),
            None => self.rebuild(),
        }
        self.status = format!("the choice \"{prompt}\" is {}; {}", t.as_str(), self.status);
        true
    }

    fn cycle_current(&mut self) {
        let (Some(RowKind::Symbol { sym, .. }) | Some(RowKind::Member(sym))) =
            self.current().map(|r| r.kind)
        else {
            if let Some(RowKind::Choice(_)) = self.current().map(|r| r.kind) {
                let m = self.current().map(|r| r.menu).unwrap_or(ROOT_MENU);
                self.open(m, true);
            }
            return;
        };
        self.kc.calc_value(sym);
        let ty = self.kc.effective_type(sym);
        if !matches!(ty, SymType::Bool | SymType::Tristate) {
            return;
        }
        let cur = self.kc.tristate_value(sym);
        let order = [Tri::No, Tri::Mod, Tri::Yes];
        let start = order.iter().position(|&t| t == cur).unwrap_or(0);
        for i in 1..=3 {
            let t = order[(start + i) % 3];
            if t == cur {
                break;
            }
            if self.kc.tristate_within_range(sym, t) {
                self.set_sym(sym, t);
                return;
            }
        }
        // Nothing else is offered: say why.
        let want = if cur == Tri::No { "y" } else { "n" };
        self.explain_failure(sym, want);
    }

    /// Set a bool/tristate (or choose a choice member) as the user.
    pub fn set_sym(&mut self, s: SymbolId, t: Tri) {
        self.kc.calc_value(s);
        let name = self.kc.sym(s).display_name().to_string();
        let before = self.kc.string_value(s).to_string();
        if self.kc.tristate_value(s) == t {
            self.status = format!("{name} is already {}", t.as_str());
            return;
        }
        let mut touched = vec![name.clone()];
        if self.kc.is_choice_value(s) && t == Tri::Yes {
            if let Some(cm) = self.kc.sym(s).choice_menu.or_else(|| self.parent_choice(s)) {
                for o in self.choice_members(cm) {
                    touched.push(self.kc.sym(o).display_name().to_string());
                }
            }
        }
        if self.refuse_pinned(&touched, t.as_str()) {
            return;
        }
        let ok = if self.kc.is_choice_value(s) && t == Tri::Yes && self.kc.is_changeable(s) {
            match self.kc.sym(s).choice_menu.or_else(|| self.parent_choice(s)) {
                Some(cm) => {
                    let others = self.choice_members(cm);
                    let olds: Vec<(String, String)> = others
                        .iter()
                        .map(|&o| {
                            (
                                self.kc.sym(o).display_name().to_string(),
                                self.kc.string_value(o).to_string(),
                            )
                        })
                        .collect();
                    self.kc.choice_set_value(cm, s);
                    // A member the declaration asked for is now off: write that.
                    for (n, old) in olds {
                        if n != name && self.declared.contains_key(&n) {
                            self.changed.entry(n).or_insert(old);
                        }
                    }
                    true
                }
                None => false,
            }
        } else {
            self.kc.tristate_within_range(s, t) && self.kc.set_tristate_value(s, t)
        };
        if !ok {
            self.explain_failure(s, t.as_str());
            return;
        }
        self.changed.entry(name.clone()).or_insert(before);
        // Picking a member closes the choice; a member of a 6.1 choice in
        // mode m is set to m or n in place.
        if self.view().choice && self.kc.is_choice_value(s) && t == Tri::Yes {
            self.stack.pop();
        }
        self.settle(&name);
    }

    /// After the user set `name`: resolve again, so that `[when]`
    /// conditions and `auto_modules` follow the change as `kforge config`
    /// will after saving, and say what happened on the status line.
    fn settle(&mut self, name: &str) {
        let note = match self.reresolve(&[]) {
            // Without the declaration's input there is nothing to resolve.
            Err(_) if self.ctx.input.is_none() => String::new(),
            Ok((res, note)) => match res.failures().find(|o| o.request.symbol == name) {
                Some(o) => format!(
                    "; resolving again did not keep it: {}",
                    o.problem
                        .as_ref()
                        .map(|p| p.to_string().lines().next().unwrap_or("").to_string())
                        .unwrap_or_default()
                ),
                None => note,
            },
            Err(e) => format!("; resolving again failed: {e}"),
        };
        let now = self.value_of(name).unwrap_or_default();
        self.rebuild();
        self.status = format!("{name} = {now}{note}");
        self.note_profile(name);
    }

    /// The declaration's input with the session's changes (and `extra`)
    /// in place of its own requests for those symbols; `None` without one.
    fn session_input(&mut self, extra: &[(String, String)]) -> Option<Input> {
        let mut inp = self.ctx.input.clone()?;
        let reqs = self.change_requests(extra);
        inp.requests
            .retain(|r| !reqs.iter().any(|q| q.symbol == r.symbol));
        inp.requests.extend(reqs);
        Some(inp)
    }

    /// Resolve the declaration again over its base with the session's
    /// changes (and `extra`) as requests; leaves the engine in the resolved
    /// state. The note says which `[when]` conditions and automatic modules
    /// changed with it.
    fn reresolve(
        &mut self,
        extra: &[(String, String)],
    ) -> Result<(kforge_resolve::Resolution, String), String> {
        // The session's changes go after the declaration's requests, which
        // they replace (see `session_input`), without copying those.
        let changes = self.change_requests(extra);
        let Some(inp) = self.ctx.input.as_ref() else {
            return Err("no declaration to resolve".into());
        };
        let res =
            kforge_resolve::resolve_on_base(&mut self.kc, inp, &self.ctx.base_config, &changes)
                .map_err(|e| e.to_string())?;
        let mut notes = Vec::new();
        let moved = |old: &[String], new: &[String]| -> (Vec<String>, Vec<String>) {
            let on = new.iter().filter(|n| !old.contains(n)).cloned().collect();
            let off = old.iter().filter(|o| !new.contains(o)).cloned().collect();
            (on, off)
        };
        let (on, off) = moved(&self.ctx.active_conditions, &res.active_conditions);
        for c in on {
            notes.push(format!("[when.{c}] now holds"));
        }
        for c in off {
            notes.push(format!("[when.{c}] no longer holds"));
        }
        let (on, off) = moved(&self.ctx.auto_modules, &res.auto_modules);
        if !on.is_empty() {
            notes.push(format!("auto_modules: {} more module(s)", on.len()));
        }
        if !off.is_empty() {
            notes.push(format!("auto_modules: {} fewer module(s)", off.len()));
        }
        self.ctx
            .active_conditions
            .clone_from(&res.active_conditions);
        self.ctx.auto_modules.clone_from(&res.auto_modules);
        let note = if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join(", "))
        };
        Ok((res, note))
    }

    fn parent_choice(&self, s: SymbolId) -> Option<MenuId> {
        let m = *self.kc.sym(s).menus.first()?;
        let p = self.kc.menu(m).parent?;
        self.is_choice_node(p).then_some(p)
    }

    fn choice_members(&self, cm: MenuId) -> Vec<SymbolId> {
        self.kc
            .menu_subtree(cm)
            .into_iter()
            .filter_map(|m| self.kc.menu(m).sym)
            .filter(|&s| self.kc.is_choice_value(s))
            .collect()
    }

    /// A request the session cannot override among `names`: one of
    /// priority `force` from an included profile, a patch or a `[when]`
    /// table (the declaration's `[config]` can only tie with it, and a tie
    /// with another value does not load). Shown with the remedy; true if
    /// there is one.
    fn refuse_pinned(&mut self, names: &[String], want: &str) -> bool {
        let Some((name, d)) = names.iter().find_map(|n| {
            let d = self.declared.get(n)?;
            let pinned =
                d.priority == Priority::Force && (d.layer != Layer::Main || d.condition.is_some());
            pinned.then(|| (n.clone(), d.clone()))
        }) else {
            return false;
        };
        let place = format!("{}:{}", d.origin.file.display(), d.origin.line);
        let by = match (&d.layer, &d.condition) {
            (Layer::Include, _) => format!("the included profile {place}"),
            (Layer::Patch(p), _) => format!("patch {p} ({place})"),
            (Layer::External(e), _) => format!("external module {e} ({place})"),
            (Layer::Fragment(f), _) => format!("fragment {f} ({place})"),
            (Layer::Main, Some(c)) => format!("[when.{c}] at {place}"),
            (Layer::Main, None) => place.clone(),
        };
        let remedy = match (&d.layer, &d.condition) {
            (Layer::Main, Some(c)) => vec![
                format!("A request in [config] cannot override [when.{c}] at the same priority."),
                format!("Change or remove it there ({place}), then run kforge menuconfig again."),
            ],
            _ => vec![
                "A request in the declaration ties with it, and a tie between two values does not load."
                    .to_string(),
                format!("Change it at {place}, or drop it with `{name} = {{ unset = true }}` in the declaration's [config],"),
                "then run kforge menuconfig again.".to_string(),
            ],
        };
        let mut lines = vec![
            format!(
                "{name} = {:?} is requested with priority \"force\" by {by}.",
                d.value
            ),
            String::new(),
        ];
        lines.extend(remedy);
        self.status = format!(
            "{name} is forced to {} by {by}: not changed to {want}",
            d.value
        );
        self.mode = Mode::Help(Help {
            title: format!("{name}: forced by {by}"),
            lines,
            scroll: 0,
            fix: None,
        });
        true
    }

    /// Mention that a profile's or patch's value is overridden by the declaration.
    fn note_profile(&mut self, name: &str) {
        if let Some(d) = self.declared.get(name) {
            match &d.layer {
                Layer::Include => self.status.push_str(&format!(
                    " (was {} from {}: saving writes it into the declaration, which overrides the profile)",
                    d.value,
                    d.origin.file.display()
                )),
                Layer::Patch(p) => self.status.push_str(&format!(
                    " (was {} from patch {p}: saving writes it with priority \"force\")",
                    d.value
                )),
                Layer::External(e) => self.status.push_str(&format!(
                    " (was {} from external module {e}: saving writes it with priority \"force\")",
                    d.value
                )),
                Layer::Fragment(f) => self.status.push_str(&format!(
                    " (was {} from fragment {f}: saving writes it into the declaration, which overrides the fragment)",
                    d.value
                )),
                Layer::Main => {}
            }
        }
    }

    fn set_text(&mut self, s: SymbolId, text: &str) -> bool {
        let name = self.kc.sym(s).display_name().to_string();
        let before = self.kc.string_value(s).to_string();
        if before == text {
            return true;
        }
        if self.refuse_pinned(std::slice::from_ref(&name), text) {
            return false;
        }
        if !self.kc.is_changeable(s) || !self.kc.set_string_value(s, text) {
            self.explain_failure(s, text);
            return false;
        }
        self.changed.entry(name.clone()).or_insert(before);
        self.settle(&name);
        true
    }

    fn edit_key(&mut self, sym: SymbolId, mut buffer: String, key: Key) {
        match key {
            Key::Enter => {
                let text = buffer.trim().to_string();
                if !self.kc.string_valid(sym, &text) {
                    self.status = format!(
                        "{text:?} is not a valid {} value",
                        self.kc.sym(sym).ty.name()
                    );
                    self.mode = Mode::Edit { sym, buffer };
                    return;
                }
                self.set_text(sym, &text);
                return;
            }
            Key::Esc => return,
            Key::Backspace => {
                buffer.pop();
            }
            Key::Char(c) => buffer.push(c),
            _ => {}
        }
        self.mode = Mode::Edit { sym, buffer };
    }

    // ---- explanations --------------------------------------------------------

    /// The current configuration, to come back to after resolving again.
    fn snapshot(&mut self) -> String {
        self.kc.render_config()
    }

    fn restore(&mut self, config: String) {
        self.kc.restart();
        self.kc.set_config_text(MEMORY_CONFIG, config.into_bytes());
        self.kc.read(Some(MEMORY_CONFIG));
        self.kc.messages.take();
    }

    /// The user's changes as requests (with `extra` on top).
    fn change_requests(&mut self, extra: &[(String, String)]) -> Vec<kforge_declaration::Request> {
        let origin = Origin {
            file: Rc::new(self.ctx.spec_path.clone()),
            line: 0,
            column: 0,
        };
        let mut out: Vec<kforge_declaration::Request> = Vec::new();
        let names: Vec<String> = self
            .changed
            .keys()
            .chain(self.fixed.iter())
            .cloned()
            .collect();
        let values: Vec<(String, String)> = names
            .into_iter()
            .filter_map(|n| {
                let v = self.value_of(&n)?;
                Some((n, v))
            })
            .chain(extra.iter().cloned())
            .collect();
        for (n, v) in values {
            let ty = self
                .kc
                .find(&n)
                .map_or(SymType::Unknown, |s| self.kc.sym(s).ty);
            out.retain(|r| r.symbol != n);
            out.push(kforge_declaration::Request {
                symbol: n,
                value: request_value(ty, &v),
                optional: false,
                priority: Priority::Force,
                since: None,
                until: None,
                layer: Layer::Main,
                origin: origin.clone(),
            });
        }
        out
    }

    /// Why `s` cannot be given `want`: the engine's explanation, and the
    /// requests that make it hold (checked by resolving again), in a help
    /// window the user can accept the fix from.
    pub fn explain_failure(&mut self, s: SymbolId, want: &str) {
        let name = self.kc.sym(s).display_name().to_string();
        let mut lines = vec![
            format!("{name} cannot be set to {want} here."),
            String::new(),
        ];
        let mut fix = None;
        if let Some(inp) = self.session_input(&[]) {
            let saved = self.snapshot();
            let target = self.change_requests(&[(name.clone(), want.to_string())]);
            let target = target
                .into_iter()
                .find(|r| r.symbol == name)
                .expect("the request just made");
            let free: Vec<String> = self
                .changed
                .keys()
                .chain(self.fixed.iter())
                .cloned()
                .collect();
            match kforge_resolve::check_request(
                &mut self.kc,
                &inp,
                &self.ctx.base_config,
                target,
                &free,
            ) {
                Ok(Some(o)) => match &o.problem {
                    Some(p) => {
                        lines.push(format!("Why ({}):", p.kind()));
                        lines.extend(p.to_string().lines().map(|l| format!("  {l}")));
                        if let Some(f) = &o.fix {
                            lines.push(String::new());
                            lines.push("These requests make it hold (checked):".into());
                            for (n, v) in f {
                                lines.push(format!("  {n} = {v:?}"));
                            }
                            lines.push(String::new());
                            lines.push(
                                "Press Enter or a to accept them (they are saved too), Esc to close."
                                    .into(),
                            );
                            let mut all = f.clone();
                            all.push((name.clone(), want.to_string()));
                            fix = Some(all);
                        } else {
                            lines.push(String::new());
                            lines.push("No fix found that leaves the declaration's requests alone.".into());
                        }
                    }
                    None => lines.push(
                        "Resolving with it requested, it holds: its dependencies settle only once the whole configuration is resolved."
                            .into(),
                    ),
                },
                Ok(None) => {}
                Err(e) => lines.push(format!("resolving again failed: {e}")),
            }
            self.restore(saved);
        }
        if let Some(r) = kforge_resolve::explain_symbol(&mut self.kc, &name) {
            lines.push(String::new());
            lines.extend(r.to_string().lines().map(str::to_string));
        }
        self.status = lines
            .iter()
            .find(|l| l.starts_with("  ") && !l.trim().is_empty())
            .map(|l| format!("{name}: {}", l.trim()))
            .unwrap_or_else(|| format!("{name} cannot be set to {want}"));
        self.mode = Mode::Help(Help {
            title: format!("{name}: cannot be set to {want}"),
            lines,
            scroll: 0,
            fix,
        });
        self.rebuild();
    }

    /// Accept a fix: resolve again with the user's changes and the fix as
    /// requests, and keep the fix's symbols as changes to save.
    pub fn accept_fix(&mut self, fix: &[(String, String)]) {
        let before: Vec<(String, Option<String>)> = fix
            .iter()
            .map(|(n, _)| (n.clone(), self.value_of(n)))
            .collect();
        match self.reresolve(fix) {
            Ok((res, note)) => {
                for (n, old) in before {
                    if let Some(old) = old {
                        self.changed.entry(n.clone()).or_insert(old);
                    }
                    self.fixed.insert(n);
                }
                let failed: Vec<String> = res
                    .failures()
                    .filter(|o| fix.iter().any(|(n, _)| *n == o.request.symbol))
                    .map(|o| o.request.symbol.clone())
                    .collect();
                self.status = if failed.is_empty() {
                    format!(
                        "set {}{note}",
                        fix.iter()
                            .map(|(n, v)| format!("{n} = {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("did not hold after all: {}", failed.join(", "))
                };
            }
            Err(e) => self.status = format!("resolving again failed: {e}"),
        }
        self.rebuild();
    }

    fn help_key(&mut self, mut h: Help, key: Key) {
        let max = h.lines.len().saturating_sub(1);
        match key {
            Key::Up | Key::Char('k') => h.scroll = h.scroll.saturating_sub(1),
            Key::Down | Key::Char('j') => h.scroll = (h.scroll + 1).min(max),
            Key::PageUp => h.scroll = h.scroll.saturating_sub(self.page),
            Key::PageDown | Key::Char(' ') => h.scroll = (h.scroll + self.page).min(max),
            Key::Home => h.scroll = 0,
            Key::End => h.scroll = max,
            Key::Enter | Key::Char('a') if h.fix.is_some() => {
                let fix = h.fix.take().unwrap_or_default();
                self.accept_fix(&fix);
                return;
            }
            Key::Esc | Key::Enter | Key::Char('q') | Key::Char('?') | Key::Left => return,
            _ => {}
        }
        self.mode = Mode::Help(h);
    }

    /// Help on the current row: prompt, symbol, value and where it comes
    /// from, the Kconfig help text, and the engine's explanation.
    pub fn help_current(&mut self) {
        let Some(row) = self.current().cloned() else {
            return;
        };
        let prompt = self
            .kc
            .menu_prompt(row.menu)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let mut lines = Vec::new();
        let sym = self.kc.menu(row.menu).sym;
        if let Some(s) = sym.filter(|&s| self.kc.sym(s).name.is_some()) {
            let name = self.kc.sym(s).display_name().to_string();
            lines.push(self.origin_line());
            lines.push(String::new());
            let help = self
                .kc
                .sym(s)
                .menus
                .iter()
                .find_map(|&m| self.kc.help(m).map(str::to_string));
            match help {
                Some(h) => lines.extend(h.lines().map(str::to_string)),
                None => lines.push("There is no help available for this option.".into()),
            }
            lines.push(String::new());
            if let Some(r) = kforge_resolve::explain_symbol(&mut self.kc, &name) {
                lines.extend(r.to_string().lines().map(str::to_string));
            }
        } else {
            match self.kc.help(row.menu).map(str::to_string) {
                Some(h) => lines.extend(h.lines().map(str::to_string)),
                None => lines.push("There is no help available for this entry.".into()),
            }
            let m = self.kc.menu(row.menu);
            lines.push(String::new());
            lines.push(format!("defined at {}:{}", m.file, m.line));
        }
        self.mode = Mode::Help(Help {
            title: prompt,
            lines,
            scroll: 0,
            fix: None,
        });
    }

    // ---- search --------------------------------------------------------------

    /// The symbols whose name or prompt contains `query` (case-insensitive),
    /// best first: exact name, name prefix, name, prompt.
    pub fn search(&self, query: &str) -> Vec<Hit> {
        self.index.search(query)
    }

    /// The menu path of a search hit (`Device Drivers > Network device support`).
    pub fn location(&self, s: SymbolId) -> String {
        let Some(&m) = self
            .kc
            .sym(s)
            .menus
            .iter()
            .find(|&&m| self.kc.menu(m).prompt.is_some())
            .or(self.kc.sym(s).menus.first())
        else {
            return String::new();
        };
        let mut parts = Vec::new();
        let mut p = self.kc.menu(m).parent;
        while let Some(x) = p {
            if x != ROOT_MENU && (self.is_menu_node(x) || self.is_choice_node(x)) {
                parts.push(
                    self.kc
                        .menu_prompt(x)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                );
            }
            p = self.kc.menu(x).parent;
        }
        parts.reverse();
        parts.join(" > ")
    }

    fn search_key(&mut self, mut s: Search, key: Key) {
        match key {
            Key::Esc => return,
            Key::Enter => {
                if let Some(h) = s.hits.get(s.cursor) {
                    let sym = h.sym;
                    self.jump_to(sym);
                    return;
                }
            }
            Key::Up => s.cursor = s.cursor.saturating_sub(1),
            Key::Down => s.cursor = (s.cursor + 1).min(s.hits.len().saturating_sub(1)),
            Key::PageUp => s.cursor = s.cursor.saturating_sub(self.page),
            Key::PageDown => s.cursor = (s.cursor + self.page).min(s.hits.len().saturating_sub(1)),
            Key::Backspace => {
                s.query.pop();
                s.hits = self.search(&s.query);
                s.cursor = 0;
            }
            Key::Char(c) => {
                s.query.push(c);
                s.hits = self.search(&s.query);
                s.cursor = 0;
            }
            _ => {}
        }
        self.mode = Mode::Search(s);
    }

    /// Show `s` in its menu, with the cursor on it (turning "show all" on
    /// when it is not visible); a symbol without a prompt gets its help.
    pub fn jump_to(&mut self, s: SymbolId) {
        let name = self.kc.sym(s).display_name().to_string();
        let menus = self.kc.sym(s).menus.clone();
        let Some(&node) = menus.iter().find(|&&m| self.kc.menu(m).prompt.is_some()) else {
            self.status = format!("{name} has no prompt: it cannot be set, only explained");
            let explain = kforge_resolve::explain_symbol(&mut self.kc, &name)
                .map(|r| r.to_string())
                .unwrap_or_default();
            self.mode = Mode::Help(Help {
                title: name,
                lines: explain.lines().map(str::to_string).collect(),
                scroll: 0,
                fix: None,
            });
            return;
        };
        let mut path = Vec::new();
        let mut p = self.kc.menu(node).parent;
        while let Some(x) = p {
            if x != ROOT_MENU && (self.is_menu_node(x) || self.is_choice_node(x)) {
                path.push(x);
            }
            p = self.kc.menu(x).parent;
        }
        path.reverse();
        for show_all in [self.show_all, true] {
            self.show_all = show_all;
            self.stack.truncate(1);
            for &m in &path {
                let choice = self.is_choice_node(m);
                self.stack.push(View {
                    menu: m,
                    choice,
                    cursor: 0,
                    offset: 0,
                });
            }
            self.rebuild();
            if let Some(i) = self.rows.iter().position(|r| r.menu == node) {
                self.view_mut().cursor = i;
                self.rebuild();
                self.status = if show_all && !self.rows[i].visible {
                    format!("{name} is not visible with these values (shown greyed; ? explains)")
                } else {
                    self.origin_line()
                };
                return;
            }
        }
        self.status = format!("{name} is in a menu that is not shown");
    }

    // ---- saving --------------------------------------------------------------

    /// The requests saving would write: the changed symbols whose value
    /// differs from the one they started with, and the symbols of accepted
    /// fixes, with `force` where a profile's, a patch's or a `[when]`
    /// request of normal priority would otherwise win.
    pub fn edits(&mut self) -> Vec<kforge_declaration::edit::Edit> {
        let fragment = self.ctx.output.is_some();
        let mut out = Vec::new();
        let names: BTreeSet<String> = self
            .changed
            .keys()
            .chain(self.fixed.iter())
            .cloned()
            .collect();
        for n in names {
            let Some(s) = self.kc.find(&n) else { continue };
            self.kc.calc_value(s);
            let v = self.kc.string_value(s).to_string();
            if self.changed.get(&n) == Some(&v) && !self.fixed.contains(&n) {
                continue;
            }
            let force = self.declared.get(&n).is_some_and(|d| {
                let in_place = d.layer == Layer::Main && d.condition.is_none() && !fragment;
                d.priority >= Priority::Normal && !in_place
            });
            out.push(kforge_declaration::edit::Edit {
                symbol: n,
                value: request_value(self.kc.sym(s).ty, &v),
                force,
            });
        }
        out
    }

    /// Where saving writes: the fragment of `--output`, else the declaration.
    pub fn save_path(&self) -> &Path {
        self.ctx.output.as_deref().unwrap_or(&self.ctx.spec_path)
    }

    /// Save the changes; the status line says what happened. Returns
    /// whether the file now holds them.
    pub fn save(&mut self) -> bool {
        let edits = self.edits();
        let path = self.save_path().to_path_buf();
        if edits.is_empty() {
            self.status = "nothing to save".into();
            self.changed.clear();
            self.fixed.clear();
            return true;
        }
        let check = self.ctx.output.is_none();
        match kforge_declaration::edit::save(&path, &edits, check) {
            Ok(()) => {
                let mut notes = Vec::new();
                for e in &edits {
                    if let Some(d) = self.declared.get(&e.symbol) {
                        if d.layer == Layer::Include {
                            notes.push(format!(
                                "{} overrides {}",
                                e.symbol,
                                d.origin.file.display()
                            ));
                        }
                    }
                    self.declared.insert(
                        e.symbol.clone(),
                        Declared {
                            value: e.value.to_string(),
                            origin: Origin {
                                file: Rc::new(path.clone()),
                                line: 0,
                                column: 0,
                            },
                            layer: if check { Layer::Main } else { Layer::Include },
                            priority: if e.force {
                                Priority::Force
                            } else {
                                Priority::Normal
                            },
                            condition: None,
                            problem: None,
                        },
                    );
                }
                self.changed.clear();
                self.fixed.clear();
                self.status = format!(
                    "saved {} request{} to {}{}{}",
                    edits.len(),
                    if edits.len() == 1 { "" } else { "s" },
                    path.display(),
                    if notes.is_empty() { "" } else { "; " },
                    notes.join("; ")
                );
                if !check {
                    self.status
                        .push_str(" (add it to [build] include to use it)");
                }
                self.rebuild();
                true
            }
            Err(e) => {
                self.status = format!("not saved: {e}");
                self.mode = Mode::Help(Help {
                    title: "Not saved".into(),
                    lines: vec![e.to_string()],
                    scroll: 0,
                    fix: None,
                });
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
