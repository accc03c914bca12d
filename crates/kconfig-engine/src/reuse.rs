//! Reading a configuration close to one read before, computing again
//! only what the differences change.
//!
//! A menuconfig change, a `[when]` round or the passes that settle a
//! resolution read configurations that differ in a few lines from one read
//! a moment before. [`Kconfig::read`] computes every value in the kernel's
//! order; when a read ended with values computed from settled values only
//! (no dependency loop met, no warning; see `symbol::EvalMemo::clean`), each
//! value is a function of the symbol's inputs and of the values its
//! expressions name, and that state is kept. A later read a small step
//! from a kept state (few inputs differ) starts from it: the symbols whose inputs differ
//! (user value, flags, a choice's member order) are computed again, in an
//! order where what a symbol names comes first, and a symbol whose value
//! changed has the symbols naming it computed again after it. A choice and
//! its members are computed together, as one.
//!
//! This gives what computing everything gives because the graph of "names
//! in its expressions" has no cycle (checked when it is built; a tree with
//! one never reuses), so the values are the one solution of their
//! equations. A dependency loop met at run time, a warning, or a change of
//! the modules switch (which every computation reads) gives up: the read
//! then computes every value as the kernel does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::expr::Expr;
use crate::symbol::{flags, PropKind, SymType, Symbol, SymbolId, Value};
use crate::{Kconfig, LoadedState, SymbolState};

/// How many computed states of earlier reads are kept: a settling pass
/// alternates between two configurations (the request overlay and the
/// result read back).
const KEPT: usize = 2;

/// A small step between two reads: at most 1/SMALL_STEP of the symbols
/// (32 in a small tree) differ in their inputs or are computed again.
/// Only a read a small step from a kept state starts from it, and it then
/// replaces that state; a larger step keeps both.
const SMALL_STEP: usize = 32;

fn small_step(symbols: usize) -> usize {
    (symbols / SMALL_STEP).max(32)
}

/// Flags that computing a value sets; every other flag is an input.
const COMPUTED: u32 = flags::VALID | flags::WRITE | flags::IN_CALC;

/// The computed states of recent reads and what reuse needs to use them.
#[derive(Default)]
pub(crate) struct ReadStates {
    /// Reads that ended with settled values; the first is not kept (a
    /// command that reads once pays nothing for this).
    clean_reads: u32,
    /// Most recent first.
    states: Vec<LoadedState>,
    /// The kept state the current read started from and the symbols whose
    /// inputs or computed part may differ from it.
    pub(crate) started_from: Option<(usize, Vec<SymbolId>)>,
    /// Who reads each symbol, built at first use.
    readers: Option<Rc<Readers>>,
    /// Reads that started from a kept state and kept it to the end.
    pub(crate) reused: u32,
    /// Nothing was computed since loading or the last restart: a read now
    /// depends on its inputs alone (a value computed before a read stays
    /// in place until computed again, and the kernel's choice computation
    /// reads some as they stand). Only such reads are kept or reused.
    pub(crate) restarted: bool,
}

/// For each symbol, the symbols whose computation may read it (its name is
/// in one of their expressions), the groups computed together, and an
/// order in which every symbol comes after what it reads.
struct Readers {
    /// Readers of symbol `i` are `list[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    list: Vec<SymbolId>,
    /// The symbols computed with each symbol (its choice's group), or
    /// itself alone: `members[member_start[r]..member_start[r + 1]]` for
    /// the group's representative `r = rep[i]`.
    rep: Vec<u32>,
    member_start: Vec<u32>,
    members: Vec<SymbolId>,
    /// Position of each representative in an order where what a symbol
    /// reads comes first; `None` when the graph has a cycle.
    rank: Option<Vec<u32>>,
}

impl Readers {
    fn of(&self, s: usize) -> &[SymbolId] {
        &self.list[self.start[s] as usize..self.start[s + 1] as usize]
    }

    fn group(&self, rep: usize) -> &[SymbolId] {
        &self.members[self.member_start[rep] as usize..self.member_start[rep + 1] as usize]
    }

    fn build(kc: &Kconfig) -> Readers {
        let n = kc.symbols.len();
        // (read, reader) pairs, one per pair.
        let mut edges: Vec<(u32, u32)> = Vec::new();
        let mut last_reader = vec![u32::MAX; n];
        let mut stack = Vec::new();
        for (i, sym) in kc.symbols.iter().enumerate() {
            let reader = i as u32;
            stack.clear();
            stack.extend(
                [sym.dir_dep, sym.rev_dep, sym.implied]
                    .into_iter()
                    .flatten(),
            );
            for &p in sym.props.iter() {
                let prop = kc.prop(p);
                // What a symbol selects or implies is read by the target
                // (its reverse dependencies), not by the symbol.
                if !matches!(prop.kind, PropKind::Select | PropKind::Imply) {
                    stack.extend([prop.visible, prop.expr].into_iter().flatten());
                }
            }
            let mut note = |t: SymbolId| {
                let t = t.0 as usize;
                if last_reader[t] != reader {
                    last_reader[t] = reader;
                    edges.push((t as u32, reader));
                }
            };
            while let Some(e) = stack.pop() {
                match kc.exprs.get(e) {
                    Expr::Symbol(t) => note(t),
                    Expr::Compare(_, l, r) | Expr::Range(l, r) => {
                        note(l);
                        note(r);
                    }
                    Expr::Not(a) => stack.push(a),
                    Expr::And(a, b) | Expr::Or(a, b) => {
                        stack.push(a);
                        stack.push(b);
                    }
                }
            }
        }
        let rep = choice_groups(kc);
        // A choice member computed by its choice keeps the text part of
        // the value it had before, which only a string, int or hex symbol
        // whose default is that member would show: in a tree with one, the
        // order of computing is part of the result, and reads are not
        // reused.
        let mut group_size = vec![0u32; n];
        for &r in &rep {
            group_size[r as usize] += 1;
        }
        let shows_member_text = kc.symbols.iter().any(|sym| {
            !matches!(sym.ty, SymType::Bool | SymType::Tristate)
                && sym.props.iter().any(|&p| {
                    let grouped = |d: SymbolId| group_size[rep[d.0 as usize] as usize] > 1;
                    match (kc.prop(p).kind, kc.prop(p).expr.map(|e| kc.exprs.get(e))) {
                        (PropKind::Default, Some(Expr::Symbol(d))) => grouped(d),
                        (PropKind::Range, Some(Expr::Range(a, b))) => grouped(a) || grouped(b),
                        _ => false,
                    }
                })
        });
        let (start, list) = csr(n, edges.iter().copied());
        let (member_start, members) = csr(n, (0..n as u32).map(|i| (rep[i as usize], i)));
        let rank = topological_rank(
            n,
            &rep,
            edges
                .iter()
                .map(|&(t, r)| (rep[t as usize], rep[r as usize])),
        )
        .filter(|_| !shows_member_text);
        Readers {
            start,
            list,
            rep,
            member_start,
            members,
            rank,
        }
    }
}

/// `(key, value)` pairs as compressed rows: the values of key `k` are
/// `list[start[k]..start[k + 1]]`, in the order given.
fn csr(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> (Vec<u32>, Vec<SymbolId>) {
    let mut start = vec![0u32; n + 1];
    for (k, _) in pairs.clone() {
        start[k as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut list = vec![SymbolId(0); start[n] as usize];
    for (k, v) in pairs {
        list[fill[k as usize] as usize] = SymbolId(v);
        fill[k as usize] += 1;
    }
    (start, list)
}

/// Kahn's order of the representatives under `edges` (read before
/// reader); `None` if some of them form a cycle.
fn topological_rank(
    n: usize,
    rep: &[u32],
    edges: impl Iterator<Item = (u32, u32)> + Clone,
) -> Option<Vec<u32>> {
    let edges = edges.filter(|(a, b)| a != b);
    let (start, list) = csr(n, edges.clone());
    let mut indegree = vec![0u32; n];
    for (_, b) in edges {
        indegree[b as usize] += 1;
    }
    let mut ready: Vec<u32> = (0..n as u32)
        .filter(|&i| rep[i as usize] == i && indegree[i as usize] == 0)
        .collect();
    let mut rank = vec![u32::MAX; n];
    let mut next = 0u32;
    while let Some(x) = ready.pop() {
        rank[x as usize] = next;
        next += 1;
        for r in &list[start[x as usize] as usize..start[x as usize + 1] as usize] {
            indegree[r.0 as usize] -= 1;
            if indegree[r.0 as usize] == 0 {
                ready.push(r.0);
            }
        }
    }
    let reps = (0..n).filter(|&i| rep[i] == i as u32).count();
    (next as usize == reps).then_some(rank)
}

/// A choice, its members and the symbols in its menu are computed
/// together (`calc_choice_612` sets them all): the representative of each
/// symbol's group (merged where they share a symbol), itself if none.
fn choice_groups(kc: &Kconfig) -> Vec<u32> {
    let n = kc.symbols.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn root(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for (mi, menu) in kc.menus.iter().enumerate() {
        let Some(c) = menu.sym.filter(|&c| kc.is_choice(c)) else {
            continue;
        };
        let subtree = kc.menu_subtree(crate::MenuId(mi as u32));
        let members = menu
            .choice_members
            .iter()
            .copied()
            .chain(subtree.into_iter().filter_map(|m| kc.menu(m).sym));
        for m in members {
            let (a, b) = (root(&mut parent, c.0), root(&mut parent, m.0));
            parent[a as usize] = b;
        }
    }
    (0..n as u32).map(|i| root(&mut parent, i)).collect()
}

/// Do two values of a symbol of type `ty` differ in what reading it gives
/// (the tristate, the text of a string, int or hex symbol, a 6.1 choice's
/// member)?
fn shown_value_differs(ty: SymType, a: &Value, b: &Value) -> bool {
    a.tri != b.tri
        || a.choice != b.choice
        || !matches!(ty, SymType::Bool | SymType::Tristate) && a.val != b.val
}

impl SymbolState {
    /// Do the inputs of `s` (flags other than computed ones, user and auto
    /// values) differ from this state's?
    fn inputs_differ(&self, s: &Symbol) -> bool {
        (s.flags ^ self.flags) & !COMPUTED != 0 || s.def != self.def
    }

    /// Give `s` this state's computed part, keeping its inputs.
    fn restore_computed(&self, s: &mut Symbol) {
        s.flags = (s.flags & !COMPUTED) | (self.flags & COMPUTED);
        s.curr.clone_from(&self.curr);
        s.visible = self.visible;
        s.dir_dep_tri = self.dir_dep_tri;
        s.rev_dep_tri = self.rev_dep_tri;
        s.implied_tri = self.implied_tri;
    }
}

impl Kconfig {
    /// How many reads so far started from an earlier read's computed state
    /// and finished from it (for tests and timings).
    pub fn reused_reads(&self) -> u32 {
        self.reuse.reused
    }

    /// Keep the state of a read whose values are settled, for the next
    /// reads of configurations close to this one.
    pub(crate) fn save_read_state(&mut self) {
        self.reuse.clean_reads += 1;
        let started_from = self.reuse.started_from.take();
        let n = self.symbols.len();
        if let Some((k, touched)) = started_from.filter(|(_, t)| t.len() <= small_step(n)) {
            // A state this read is a small step from gives way to it: a
            // settling pass alternates between two configurations, each
            // changing a little from one round to the next (a state kept
            // for each). Only what differs is copied.
            let mut st = self.reuse.states.remove(k);
            for s in touched {
                let i = s.0 as usize;
                st.symbols[i] = SymbolState::of(&self.symbols[i]);
                for &p in self.symbols[i].props.iter() {
                    st.prompts[p.0 as usize] = self.props[p.0 as usize].visible_tri;
                }
            }
            for (menu, order) in self.menus.iter().zip(&mut st.choice_members) {
                if menu.choice_members != *order {
                    order.clone_from(&menu.choice_members);
                }
            }
            st.modules_val = self.modules_val;
            st.changed = self.changed;
            self.reuse.states.insert(0, st);
            return;
        }
        if self.reuse.clean_reads < 2 {
            return;
        }
        let state = self.computed_state();
        self.reuse.states.insert(0, state);
        self.reuse.states.truncate(KEPT);
    }

    /// After loading a configuration's values: start from the kept state
    /// whose inputs differ least and compute again what the differences
    /// change. False when no kept state applies (nothing was changed), or
    /// when computing met what only the kernel's full order settles (then
    /// every value is uncomputed again and the messages are as loading
    /// left them).
    pub(crate) fn reuse_read_state(&mut self) -> bool {
        let n = self.symbols.len();
        let fits = |st: &LoadedState| {
            st.symbols.len() == n
                && st.prompts.len() == self.props.len()
                && st.choice_members.len() == self.menus.len()
        };
        if self.reuse.states.is_empty() || !self.loaded.as_deref().is_some_and(fits) {
            return false;
        }
        // Past a small step from a kept state, computing everything in
        // order costs no more (measured: a settling pass reading back its
        // result, thousands of inputs apart, was slower reused).
        let limit = small_step(n);
        let mut best: Option<(usize, Vec<SymbolId>)> = None;
        // The older state first: a settling pass alternates between two
        // configurations, and the other then needs only a glance.
        for (k, st) in self.reuse.states.iter().enumerate().rev() {
            if !fits(st) {
                continue;
            }
            let enough = best.as_ref().map_or(limit, |(_, b)| b.len());
            let mut seeds = Vec::new();
            for i in 3..n {
                if st.symbols[i].inputs_differ(&self.symbols[i]) {
                    seeds.push(SymbolId(i as u32));
                    if seeds.len() > enough {
                        break;
                    }
                }
            }
            for (menu, order) in self.menus.iter().zip(&st.choice_members) {
                if menu.choice_members != *order {
                    seeds.extend(menu.sym);
                }
            }
            if best.as_ref().is_none_or(|(_, b)| seeds.len() < b.len()) {
                best = Some((k, seeds));
            }
        }
        let Some((k, seeds)) = best.filter(|(_, seeds)| seeds.len() <= limit) else {
            return false;
        };
        // Built at the first read that can use it.
        let readers = match &self.reuse.readers {
            Some(r) => r.clone(),
            None => {
                let r = Rc::new(Readers::build(self));
                self.reuse.readers = Some(r.clone());
                r
            }
        };
        let Some(rank) = readers.rank.as_deref() else {
            return false;
        };
        let after_load = (self.changed, self.messages.lines.len(), self.sym_warnings);
        let states = std::mem::take(&mut self.reuse.states);
        let loaded = self.loaded.take().expect("checked above");
        let st = &states[k];
        for (p, &v) in self.props.iter_mut().zip(&st.prompts) {
            p.visible_tri = v;
        }
        for (sym, kept) in self.symbols.iter_mut().zip(&st.symbols).skip(3) {
            kept.restore_computed(sym);
        }
        self.modules_val = st.modules_val;
        self.memo.forget();
        self.memo.clean = true;
        // Groups to compute again, what they read first.
        let mut queue = BinaryHeap::new();
        let mut queued = vec![false; n];
        let mut push = |queue: &mut BinaryHeap<Reverse<(u32, u32)>>, s: SymbolId| {
            let r = readers.rep[s.0 as usize];
            if !std::mem::replace(&mut queued[r as usize], true) {
                queue.push(Reverse((rank[r as usize], r)));
            }
        };
        for &s in &seeds {
            push(&mut queue, s);
        }
        let mut ok = true;
        let mut touched = seeds;
        while let Some(Reverse((_, r))) = queue.pop() {
            let group = readers.group(r as usize);
            touched.extend_from_slice(group);
            for &s in group {
                let sym = &mut self.symbols[s.0 as usize];
                loaded.symbols[s.0 as usize].restore_computed(sym);
                sym.flags &= !flags::VALID;
                for &p in sym.props.iter() {
                    self.props[p.0 as usize].visible_tri = loaded.prompts[p.0 as usize];
                }
            }
            self.memo.forget();
            for &s in group {
                self.calc_value(s);
            }
            if !self.memo.clean {
                ok = false;
                break;
            }
            for &s in group {
                let sym = &self.symbols[s.0 as usize];
                if shown_value_differs(sym.ty, &sym.curr, &st.symbols[s.0 as usize].curr) {
                    if s == self.modules_sym {
                        ok = false;
                        break;
                    }
                    for &reader in readers.of(s.0 as usize) {
                        push(&mut queue, reader);
                    }
                }
            }
            if !ok {
                break;
            }
        }
        self.loaded = Some(loaded);
        self.reuse.states = states;
        self.reuse.started_from = ok.then_some((k, touched));
        if !ok {
            (self.changed, _, self.sym_warnings) = after_load;
            self.messages.lines.truncate(after_load.1);
            self.forget_computed_values();
        }
        ok
    }

    /// Every value uncomputed, as a restart leaves it, keeping the inputs
    /// a read loaded.
    pub(crate) fn forget_computed_values(&mut self) {
        if let Some(loaded) = self.loaded.take() {
            for (sym, st) in self.symbols.iter_mut().zip(&loaded.symbols).skip(3) {
                st.restore_computed(sym);
            }
            for (p, &v) in self.props.iter_mut().zip(&loaded.prompts) {
                p.visible_tri = v;
            }
            self.modules_val = loaded.modules_val;
            self.loaded = Some(loaded);
        }
        for s in &mut self.symbols[3..] {
            s.flags &= !flags::VALID;
        }
        self.memo.forget();
    }
}
