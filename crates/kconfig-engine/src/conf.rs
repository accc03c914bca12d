//! The modes of the kernel's `conf` program (olddefconfig, defconfig,
//! all*config, randconfig, savedefconfig, syncconfig, listnewconfig, the
//! line-oriented oldconfig), independent of any command line.

use std::io::BufRead;

use crate::expr::Tri;
use crate::menu::{MenuId, ROOT_MENU};
use crate::rand::GlibcRand;
use crate::symbol::{flags, PropKind, SymType, SymbolId};
use crate::{Dialect, Kconfig};

/// How `conf` fills in symbols that have no value yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewSymbols {
    Default,
    Yes,
    Mod,
    No,
    Random,
}

/// randconfig's probabilities (`KCONFIG_PROBABILITY`), in percent.
#[derive(Debug, Clone, Copy)]
pub struct Probabilities {
    pub bool_y: i32,
    pub tri_y: i32,
    pub tri_m: i32,
}

impl Default for Probabilities {
    fn default() -> Self {
        Probabilities {
            bool_y: 50,
            tri_y: 33,
            tri_m: 33,
        }
    }
}

/// `KCONFIG_PROBABILITY` is out of range.
#[derive(Debug, thiserror::Error)]
#[error("KCONFIG_PROBABILITY: Numerical result out of range")]
pub struct BadProbability;

/// Parse `KCONFIG_PROBABILITY` as the kernel does.
pub fn parse_probability(env: Option<&str>) -> Result<Probabilities, BadProbability> {
    let mut p = Probabilities::default();
    let mut vals = Vec::new();
    let mut s = env.unwrap_or("");
    while !s.is_empty() {
        let (v, used) = strtol10(s);
        if !(0..=100).contains(&v) {
            return Err(BadProbability);
        }
        vals.push(v as i32);
        s = &s[used..];
        s = s
            .strip_prefix(':')
            .unwrap_or(if used == 0 { "" } else { s });
        if vals.len() >= 3 {
            break;
        }
    }
    match vals.len() {
        1 => {
            p.bool_y = vals[0];
            p.tri_m = p.bool_y / 2;
            p.tri_y = p.bool_y - p.tri_m;
        }
        2 => {
            p.tri_y = vals[0];
            p.tri_m = vals[1];
            p.bool_y = p.tri_y + p.tri_m;
        }
        3 => {
            p.bool_y = vals[0];
            p.tri_y = vals[1];
            p.tri_m = vals[2];
        }
        _ => {}
    }
    if p.tri_y + p.tri_m > 100 {
        return Err(BadProbability);
    }
    Ok(p)
}

fn strtol10(s: &str) -> (i64, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let ds = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == ds {
        return (0, 0);
    }
    let v = s[start..i].parse::<i64>().unwrap_or(i64::MAX);
    (v, i)
}

/// Parse `KCONFIG_SEED` as `strtol(s, &end, 0)` with nothing left over.
pub fn parse_seed(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let (v, used, _) = {
        let v = crate::symbol::strtoll(s, 0);
        // find how much strtol consumed: accept only fully numeric text
        let t = s.trim_start();
        let t = t.strip_prefix(['+', '-']).unwrap_or(t);
        let ok = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit())
        } else if t.starts_with('0') {
            t.bytes().all(|c| (b'0'..=b'7').contains(&c))
        } else {
            !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())
        };
        (v, if ok { s.len() } else { 0 }, ())
    };
    (used == s.len()).then_some(v as u32)
}

impl Kconfig {
    /// Give every prompted bool/tristate without a value one, per `mode`
    /// (the kernel's `conf_set_all_new_symbols`).
    pub fn set_all_new_symbols(
        &mut self,
        mode: NewSymbols,
        rng: &mut Option<GlibcRand>,
        prob: Probabilities,
    ) {
        match self.dialect {
            Dialect::V6_12 | Dialect::V6_18 => self.set_all_new_612(mode, rng, prob),
            Dialect::V6_1 => {
                if mode == NewSymbols::Random {
                    while self.set_all_new_61(mode, rng, prob) {}
                } else {
                    self.set_all_new_61(mode, rng, prob);
                }
            }
        }
    }

    /// The value a mode gives a new symbol; None for "use the default".
    fn new_value(
        &self,
        mode: NewSymbols,
        s: SymbolId,
        rng: &mut Option<GlibcRand>,
        prob: Probabilities,
    ) -> Option<Tri> {
        match mode {
            NewSymbols::Yes => Some(Tri::Yes),
            NewSymbols::Mod => Some(Tri::Mod),
            NewSymbols::No => Some(Tri::No),
            NewSymbols::Random => Some(self.random_tri(s, rng, prob)),
            NewSymbols::Default => None,
        }
    }

    fn random_tri(&self, s: SymbolId, rng: &mut Option<GlibcRand>, prob: Probabilities) -> Tri {
        let cnt = rng.as_mut().map(|r| r.next() % 100).unwrap_or(0);
        if self.sym(s).ty == SymType::Tristate {
            if cnt < prob.tri_y {
                Tri::Yes
            } else if cnt < prob.tri_y + prob.tri_m {
                Tri::Mod
            } else {
                Tri::No
            }
        } else if cnt < prob.bool_y {
            Tri::Yes
        } else {
            Tri::No
        }
    }

    fn set_all_new_612(
        &mut self,
        mode: NewSymbols,
        rng: &mut Option<GlibcRand>,
        prob: Probabilities,
    ) {
        for m in self.all_menus() {
            let Some(s) = self.menu(m).sym else { continue };
            if self.menu(m).prompt.is_none()
                || self.has_value(s)
                || !matches!(self.sym(s).ty, SymType::Bool | SymType::Tristate)
                || self.is_choice_value(s)
            {
                continue;
            }
            if self.is_choice(s) {
                if mode == NewSymbols::Random {
                    self.randomize_choice_612(m, rng);
                }
                continue;
            }
            let Some(val) = self.new_value(mode, s, rng, prob) else {
                continue;
            };
            self.sym_mut(s).def[0].tri = val;
            self.set_flag(s, flags::DEF_USER);
        }
        self.clear_all_valid();
    }

    fn randomize_choice_612(&mut self, choice: MenuId, rng: &mut Option<GlibcRand>) {
        let members: Vec<SymbolId> = self
            .menu_subtree(choice)
            .into_iter()
            .filter_map(|m| self.menu(m).sym)
            .collect();
        let mut cnt = members.iter().filter(|&&s| !self.has_value(s)).count() as i32;
        while cnt > 0 {
            let mut x = rng.as_mut().map(|r| r.next()).unwrap_or(0) % cnt;
            for &s in &members {
                if !self.has_value(s) {
                    x -= 1;
                }
                if x < 0 {
                    self.sym_mut(s).def[0].tri = Tri::Yes;
                    self.set_flag(s, flags::DEF_USER);
                    let list = &mut self.menu_mut(choice).choice_members;
                    if let Some(p) = list.iter().position(|&y| y == s) {
                        list.remove(p);
                        list.push(s);
                    }
                    break;
                }
            }
            cnt -= 1;
        }
    }

    fn set_all_new_61(
        &mut self,
        mode: NewSymbols,
        rng: &mut Option<GlibcRand>,
        prob: Probabilities,
    ) -> bool {
        let mut has_changed = false;
        for i in 0..self.hash_order.len() {
            let s = self.hash_order[i];
            if self.has_value(s) || self.has_flag(s, flags::VALID) {
                continue;
            }
            if !matches!(self.effective_type(s), SymType::Bool | SymType::Tristate) {
                continue;
            }
            has_changed = true;
            let Some(val) = self.new_value(mode, s, rng, prob) else {
                continue;
            };
            self.sym_mut(s).def[0].tri = val;
            if !(self.is_choice(s) && mode == NewSymbols::Random) {
                self.set_flag(s, flags::DEF_USER);
            }
        }
        self.clear_all_valid();
        if mode != NewSymbols::Random {
            for i in 0..self.hash_order.len() {
                let s = self.hash_order[i];
                if (self.is_choice(s) && !self.has_value(s)) || self.is_choice_value(s) {
                    self.set_flag(s, flags::NEED_SET_CHOICE_VALUES);
                }
            }
        }
        for i in 0..self.hash_order.len() {
            let cs = self.hash_order[i];
            if self.has_value(cs) || !self.is_choice(cs) {
                continue;
            }
            self.calc_value(cs);
            if mode == NewSymbols::Random {
                has_changed |= self.randomize_choice_61(cs, rng);
            } else {
                self.set_all_choice_values(cs);
                has_changed = true;
            }
        }
        has_changed
    }

    fn randomize_choice_61(&mut self, cs: SymbolId, rng: &mut Option<GlibcRand>) -> bool {
        if self.sym(cs).curr.tri != Tri::Yes {
            return false;
        }
        let members = self.sym(cs).choice_members.clone();
        let cnt = members.len() as i32;
        if cnt == 0 {
            return false;
        }
        let def = rng.as_mut().map(|r| r.next()).unwrap_or(0) % cnt;
        for (i, &s) in members.iter().enumerate() {
            if i as i32 == def {
                self.sym_mut(s).def[0].tri = Tri::Yes;
                self.sym_mut(cs).def[0].choice = Some(s);
            } else {
                self.sym_mut(s).def[0].tri = Tri::No;
            }
            self.set_flag(s, flags::DEF_USER);
            self.clear_flag(s, flags::VALID);
        }
        self.set_flag(cs, flags::DEF_USER);
        self.clear_flag(cs, flags::VALID);
        true
    }

    /// Turn every user value `from` into `to` for tristates (yes2modconfig etc.).
    pub fn rewrite_tristates(&mut self, from: Tri, to: Tri) {
        for i in 0..self.hash_order.len() {
            let s = self.hash_order[i];
            if self.effective_type(s) == SymType::Tristate && self.sym(s).def[0].tri == from {
                self.sym_mut(s).def[0].tri = to;
            }
        }
        self.clear_all_valid();
    }

    /// The `.config` line for a symbol as `--listnewconfig` prints it.
    pub fn listconfig_line(&self, s: SymbolId) -> String {
        let sym = self.sym(s);
        let name = sym.display_name();
        let val = self.string_value(s);
        if sym.ty == SymType::String {
            format!(
                "{}{}={}",
                self.prefix,
                name,
                crate::confdata::escape_string(&val)
            )
        } else {
            format!("{}{}={}", self.prefix, name, val)
        }
    }
}

/// The interactive, line-oriented front end (`oldaskconfig`, `oldconfig`,
/// `syncconfig`, `listnewconfig`, `helpnewconfig`): questions go to `out`,
/// answers come from `input`.
pub struct Asker<'a> {
    pub kc: &'a mut Kconfig,
    pub mode: AskMode,
    pub input: Box<dyn BufRead + 'a>,
    pub out: String,
    pub err: String,
    pub tty: bool,
    indent: usize,
    conf_cnt: u32,
    root_entry: MenuId,
    eof: bool,
}

/// Which line-oriented mode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskMode {
    OldAsk,
    Old,
    Sync,
    ListNew,
    HelpNew,
}

/// The interactive mode hit end of input with a new symbol unanswered.
#[derive(Debug, thiserror::Error)]
#[error("no value for new symbol '{0}' at end of input")]
pub struct EndOfInput(pub String);

impl<'a> Asker<'a> {
    /// A front end over `kc` reading answers from `input`.
    pub fn new(
        kc: &'a mut Kconfig,
        mode: AskMode,
        input: Box<dyn BufRead + 'a>,
        tty: bool,
    ) -> Self {
        Asker {
            kc,
            mode,
            input,
            out: String::new(),
            err: String::new(),
            tty,
            indent: 1,
            conf_cnt: 0,
            root_entry: ROOT_MENU,
            eof: false,
        }
    }

    /// Run the mode to completion.
    pub fn run(&mut self) -> Result<(), EndOfInput> {
        if self.mode == AskMode::OldAsk {
            self.root_entry = ROOT_MENU;
            self.conf(ROOT_MENU)?;
            self.mode = AskMode::Old;
        }
        loop {
            self.conf_cnt = 0;
            self.check_conf(ROOT_MENU)?;
            if self.conf_cnt == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Read one answer. At end of input the kernel's `fgets` leaves the
    /// buffer as it was (`prefill`), which is then echoed and used.
    fn read_line(&mut self, prefill: &str) -> String {
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                self.err.push_str("\nError in reading or end of file.\n");
                self.eof = true;
                line = prefill.to_string();
            }
            Ok(_) => {}
        }
        if !self.tty {
            self.out.push_str(&line);
        }
        line
    }

    fn askvalue(&mut self, s: SymbolId, def: &str) -> Option<String> {
        if !self.kc.has_value(s) {
            self.out.push_str("(NEW) ");
        }
        if !self.kc.is_changeable(s) {
            self.out.push_str(def);
            self.out.push('\n');
            return None;
        }
        if matches!(self.mode, AskMode::Old | AskMode::Sync) && self.kc.has_value(s) {
            self.out.push_str(def);
            self.out.push('\n');
            return None;
        }
        Some(self.read_line("\n"))
    }

    fn help_text(&self, m: MenuId) -> String {
        match self.kc.help(m) {
            Some(h) => format!("\n{h}\n"),
            None => "\nThere is no help available for this option.\n\n".to_string(),
        }
    }

    fn conf_string(&mut self, m: MenuId) -> Result<(), EndOfInput> {
        let s = self.kc.menu(m).sym.unwrap();
        loop {
            let p = self.kc.menu_prompt(m).unwrap_or_else(|| "".into());
            let name = self.kc.sym(s).display_name().to_string();
            let def = self.kc.string_value(s).to_string();
            self.out.push_str(&format!(
                "{:w$}{} ({}) [{}] ",
                "",
                p,
                name,
                def,
                w = self.indent - 1
            ));
            let Some(line) = self.askvalue(s, &def) else {
                return Ok(());
            };
            let mut newdef = None;
            if line.is_empty() || line.starts_with('\n') {
                newdef = Some(def.clone());
            } else if line.starts_with('?') && line[1..].starts_with('\n') {
                let h = self.help_text(m);
                self.out.push_str(&h);
            } else {
                newdef = Some(line.strip_suffix('\n').unwrap_or(&line).to_string());
            }
            if let Some(d) = newdef {
                if self.kc.set_string_value(s, &d) {
                    return Ok(());
                }
            }
            if self.eof {
                return Err(EndOfInput(name));
            }
        }
    }

    fn conf_sym(&mut self, m: MenuId) -> Result<(), EndOfInput> {
        let s = self.kc.menu(m).sym.unwrap();
        loop {
            let p = self.kc.menu_prompt(m).unwrap_or_else(|| "".into());
            let mut q = format!("{:w$}{} ", "", p, w = self.indent - 1);
            if let Some(n) = self.kc.sym(s).name.clone() {
                q.push_str(&format!("({n}) "));
            }
            q.push('[');
            let old = self.kc.tristate_value(s);
            q.push(match old {
                Tri::No => 'N',
                Tri::Mod => 'M',
                Tri::Yes => 'Y',
            });
            for (t, l) in [(Tri::No, "/n"), (Tri::Mod, "/m"), (Tri::Yes, "/y")] {
                if old != t && self.kc.tristate_within_range(s, t) {
                    q.push_str(l);
                }
            }
            q.push_str("/?] ");
            self.out.push_str(&q);
            let def = self.kc.string_value(s).to_string();
            let Some(line) = self.askvalue(s, &def) else {
                return Ok(());
            };
            let l = line.trim();
            let newval = match l.as_bytes().first() {
                Some(b'n' | b'N') if l.len() == 1 || &l[1..] == "o" => Some(Tri::No),
                Some(b'm' | b'M') if l.len() == 1 => Some(Tri::Mod),
                Some(b'y' | b'Y') if l.len() == 1 || &l[1..] == "es" => Some(Tri::Yes),
                None => Some(old),
                Some(b'?') => None,
                _ => {
                    if self.eof {
                        return Err(EndOfInput(self.kc.sym(s).display_name().to_string()));
                    }
                    continue;
                }
            };
            if let Some(v) = newval {
                if self.kc.set_tristate_value(s, v) {
                    return Ok(());
                }
            }
            let h = self.help_text(m);
            self.out.push_str(&h);
            if self.eof {
                return Err(EndOfInput(self.kc.sym(s).display_name().to_string()));
            }
        }
    }

    fn conf_choice(&mut self, m: MenuId) -> Result<(), EndOfInput> {
        let v61 = self.kc.dialect == Dialect::V6_1;
        let cs0 = self.kc.menu(m).sym.unwrap();
        let choice_is_new = !self.kc.has_value(cs0);
        if v61 {
            if self.kc.is_changeable(cs0) {
                self.conf_sym(m)?;
                self.kc.calc_value(cs0);
                if self.kc.tristate_value(cs0) != Tri::Yes {
                    return Ok(());
                }
            } else {
                match self.kc.tristate_value(cs0) {
                    Tri::No => return Ok(()),
                    Tri::Mod => {
                        let p = self.kc.menu_prompt(m).unwrap_or_else(|| "".into());
                        self.out
                            .push_str(&format!("{:w$}{}\n", "", p, w = self.indent - 1));
                        return Ok(());
                    }
                    Tri::Yes => {}
                }
            }
        }
        loop {
            let p = self.kc.menu_prompt(m).unwrap_or_else(|| "".into());
            self.out
                .push_str(&format!("{:w$}{}\n", "", p, w = self.indent - 1));
            let cs = self.kc.menu(m).sym.unwrap();
            let def_sym = match self.kc.dialect {
                Dialect::V6_12 | Dialect::V6_18 => self.kc.calc_choice_612(m),
                Dialect::V6_1 => {
                    self.kc.calc_value(cs);
                    self.kc.sym(cs).curr.choice
                }
            };
            let mut cnt = 0;
            let mut def = 0;
            let mut is_new = false;
            let mut child = self.kc.menu(m).list;
            while let Some(c) = child {
                child = self.kc.menu(c).next;
                if !self.kc.menu_is_visible(c) {
                    continue;
                }
                let Some(cs2) = self.kc.menu(c).sym else {
                    let cp = self.kc.menu_prompt(c).unwrap_or_else(|| "".into());
                    self.out
                        .push_str(&format!("{:>w$} {}\n", '*', cp, w = self.indent));
                    continue;
                };
                cnt += 1;
                if Some(cs2) == def_sym {
                    def = cnt;
                    self.out.push_str(&format!("{:>w$}", '>', w = self.indent));
                } else {
                    self.out.push_str(&format!("{:>w$}", ' ', w = self.indent));
                }
                let cp = self.kc.menu_prompt(c).unwrap_or_else(|| "".into());
                self.out.push_str(&format!(" {cnt}. {cp}"));
                if let Some(n) = self.kc.sym(cs2).name.clone() {
                    self.out.push_str(&format!(" ({n})"));
                }
                if !self.kc.has_value(cs2) {
                    is_new = true;
                    self.out.push_str(" (NEW)");
                }
                self.out.push('\n');
            }
            self.out
                .push_str(&format!("{:w$}choice", "", w = self.indent - 1));
            let mut line = String::new();
            if cnt == 1 {
                self.out.push_str("[1]: 1\n");
            } else {
                self.out.push_str(&format!("[1-{cnt}?]: "));
                if v61 {
                    is_new = choice_is_new;
                }
                match self.mode {
                    AskMode::Old | AskMode::Sync if !is_new => {
                        cnt = def;
                        self.out.push_str(&format!("{cnt}\n"));
                    }
                    AskMode::Old | AskMode::Sync | AskMode::OldAsk => {
                        line = self.read_line("").trim().to_string();
                        if line.starts_with('?') {
                            let h = self.help_text(m);
                            self.out.push_str(&h);
                            if self.eof {
                                return Err(EndOfInput("<choice>".into()));
                            }
                            continue;
                        }
                        if line.is_empty() {
                            cnt = def;
                        } else if line.as_bytes()[0].is_ascii_digit() {
                            cnt = strtol10(&line).0 as i32;
                        } else {
                            if self.eof {
                                return Err(EndOfInput("<choice>".into()));
                            }
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            let mut chosen = None;
            let mut child = self.kc.menu(m).list;
            while let Some(c) = child {
                child = self.kc.menu(c).next;
                if self.kc.menu(c).sym.is_none() || !self.kc.menu_is_visible(c) {
                    continue;
                }
                cnt -= 1;
                if cnt == 0 {
                    chosen = Some(c);
                    break;
                }
            }
            let Some(c) = chosen else {
                if self.eof {
                    return Err(EndOfInput("<choice>".into()));
                }
                continue;
            };
            if line.ends_with('?') {
                let h = self.help_text(c);
                self.out.push_str(&h);
                continue;
            }
            let target = self.kc.menu(c).sym.unwrap();
            self.kc.choice_set_value(m, target);
            if v61 {
                let mut gc = self.kc.menu(c).list;
                while let Some(x) = gc {
                    self.indent += 2;
                    self.conf(x)?;
                    self.indent -= 2;
                    gc = self.kc.menu(x).next;
                }
            }
            return Ok(());
        }
    }

    fn conf(&mut self, m: MenuId) -> Result<(), EndOfInput> {
        if !self.kc.menu_is_visible(m) {
            return Ok(());
        }
        let sym = self.kc.menu(m).sym;
        if let Some(p) = self.kc.menu(m).prompt {
            let kind = self.kc.prop(p).kind;
            let mut show = false;
            match kind {
                PropKind::Menu => {
                    if self.mode != AskMode::OldAsk && self.root_entry != m {
                        self.check_conf(m)?;
                        return Ok(());
                    }
                    show = true;
                }
                PropKind::Comment => show = true,
                _ => {}
            }
            if show {
                if let Some(t) = self.kc.menu_prompt(m) {
                    let w = self.indent;
                    self.out
                        .push_str(&format!("{:>w$}\n{:>w$} {}\n{:>w$}\n", '*', '*', t, '*'));
                }
            }
        }
        if let Some(s) = sym {
            if self.kc.is_choice(s) {
                self.conf_choice(m)?;
                if self.kc.dialect >= Dialect::V6_12 || self.kc.sym(s).curr.tri != Tri::Mod {
                    return Ok(());
                }
            } else {
                match self.kc.sym(s).ty {
                    SymType::Int | SymType::Hex | SymType::String => self.conf_string(m)?,
                    _ => self.conf_sym(m)?,
                }
            }
            self.indent += 2;
        }

        let mut c = self.kc.menu(m).list;
        while let Some(x) = c {
            self.conf(x)?;
            c = self.kc.menu(x).next;
        }
        if sym.is_some() {
            self.indent -= 2;
        }
        Ok(())
    }

    fn check_conf(&mut self, m: MenuId) -> Result<(), EndOfInput> {
        if !self.kc.menu_is_visible(m) {
            return Ok(());
        }
        if let Some(s) = self.kc.menu(m).sym {
            // 6.1 also revisits a choice without a value that is on.
            let v61_choice_on = self.kc.dialect == Dialect::V6_1
                && self.kc.is_choice(s)
                && self.kc.tristate_value(s) == Tri::Yes;
            if !self.kc.has_value(s) && (self.kc.is_changeable(s) || v61_choice_on) {
                match self.mode {
                    AskMode::ListNew => {
                        if self.kc.sym(s).name.is_some() {
                            let l = self.kc.listconfig_line(s);
                            self.out.push_str(&l);
                            self.out.push('\n');
                        }
                    }
                    AskMode::HelpNew => {
                        self.out.push_str("-----\n");
                        let h = self.help_text(m);
                        self.out.push_str(&h);
                        self.out.push_str("-----\n");
                    }
                    _ => {
                        if self.conf_cnt == 0 {
                            self.out.push_str("*\n* Restart config...\n*\n");
                        }
                        self.conf_cnt += 1;
                        self.root_entry = self.parent_menu(m);
                        let r = self.root_entry;
                        self.conf(r)?;
                    }
                }
            }
        }
        let mut c = self.kc.menu(m).list;
        while let Some(x) = c {
            self.check_conf(x)?;
            c = self.kc.menu(x).next;
        }
        Ok(())
    }

    fn parent_menu(&self, m: MenuId) -> MenuId {
        let mut m = m;
        while m != ROOT_MENU {
            if self
                .kc
                .menu(m)
                .prompt
                .is_some_and(|p| self.kc.prop(p).kind == PropKind::Menu)
            {
                break;
            }
            m = self.kc.menu(m).parent.unwrap_or(ROOT_MENU);
        }
        m
    }
}

impl Kconfig {
    /// Make `sym` the user's choice in the choice at `choice`.
    pub fn choice_set_value(&mut self, choice: MenuId, sym: SymbolId) {
        match self.dialect {
            Dialect::V6_12 | Dialect::V6_18 => {
                let mut changed = false;
                for m in self.menu_subtree(choice) {
                    let Some(s) = self.menu(m).sym else { continue };
                    if self.sym(s).visible == Tri::No {
                        continue;
                    }
                    let v = if s == sym { Tri::Yes } else { Tri::No };
                    if self.sym(s).curr.tri != v {
                        changed = true;
                    }
                    self.sym_mut(s).def[0].tri = v;
                    self.set_flag(s, flags::DEF_USER);
                    let list = &mut self.menu_mut(choice).choice_members;
                    if let Some(p) = list.iter().position(|&y| y == s) {
                        list.remove(p);
                        list.insert(0, s);
                    }
                }
                if changed {
                    self.clear_all_valid();
                }
            }
            Dialect::V6_1 => {
                self.set_tristate_value(sym, Tri::Yes);
            }
        }
    }
}
