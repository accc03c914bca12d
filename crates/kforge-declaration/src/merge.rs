//! Merging the settings of all layers into requests.
//!
//! Settings arrive in layer order. An `unset` drops every request for its
//! symbol seen so far. What remains is decided per symbol and per version
//! range: the version axis is cut at every `since` and `until` of the
//! symbol's requests, and in each piece the requests that apply compete:
//! highest priority first, then required before optional; the winners must
//! agree on the value (else [`SpecError::Conflict`]) and the last one
//! written is kept. A request that wins only in some pieces comes out with
//! its range narrowed to those pieces (split in two if they are not
//! adjacent), so that for any version at most one request per symbol
//! applies.

use std::collections::HashMap;

use crate::{KernelVersion, Origin, Request, SpecError};

/// One entry of a settings table, before merging.
#[derive(Debug, Clone)]
pub(crate) enum Setting {
    Set(Request),
    /// `SYMBOL = { unset = true }`.
    Unset {
        symbol: String,
        origin: Origin,
    },
}

/// Merge the settings of one scope (the unconditional settings, or those of
/// one `[when.X]` symbol), given in layer order. `scope` completes the
/// "nothing to unset" message (`""` or `" in [when.X]"`).
pub(crate) fn merge(settings: Vec<Setting>, scope: &str) -> Result<Vec<Request>, SpecError> {
    // Per symbol, the surviving requests with their position in the input.
    let mut order: Vec<String> = Vec::new();
    let mut by_symbol: HashMap<String, Vec<(usize, Request)>> = HashMap::new();
    for (index, setting) in settings.into_iter().enumerate() {
        match setting {
            Setting::Set(request) => {
                let entry = by_symbol.entry(request.symbol.clone()).or_insert_with(|| {
                    order.push(request.symbol.clone());
                    Vec::new()
                });
                entry.push((index, request));
            }
            Setting::Unset { symbol, origin } => match by_symbol.get_mut(&symbol) {
                Some(requests) if !requests.is_empty() => requests.clear(),
                _ => {
                    return Err(SpecError::At {
                        origin,
                        message: format!(
                            "nothing to unset: no earlier request for {symbol}{scope}"
                        ),
                        help: Some(
                            "`unset` removes requests made by an included file, \
                             or earlier in the layer order; check the name"
                                .into(),
                        ),
                    })
                }
            },
        }
    }
    let mut out: Vec<(usize, Request)> = Vec::new();
    for symbol in &order {
        resolve(&by_symbol[symbol], &mut out)?;
    }
    // Layer order; the pieces of one request by version.
    out.sort_by(|(a, ra), (b, rb)| a.cmp(b).then(ra.since.cmp(&rb.since)));
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// A piece of the version axis: from `lo` (inclusive; `None` = from the
/// beginning) to `hi` (exclusive; `None` = without end).
type Piece = (Option<KernelVersion>, Option<KernelVersion>);

fn covers(r: &Request, (lo, hi): Piece) -> bool {
    r.since.is_none_or(|s| lo.is_some_and(|lo| s <= lo))
        && r.until.is_none_or(|u| hi.is_some_and(|hi| hi <= u))
}

/// Decide the requests of one symbol (given in layer order).
fn resolve(
    candidates: &[(usize, Request)],
    out: &mut Vec<(usize, Request)>,
) -> Result<(), SpecError> {
    let mut bounds: Vec<KernelVersion> = candidates
        .iter()
        .flat_map(|(_, r)| r.since.into_iter().chain(r.until))
        .collect();
    bounds.sort();
    bounds.dedup();
    let mut pieces: Vec<Piece> = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        pieces.push((lo, Some(b)));
        lo = Some(b);
    }
    pieces.push((lo, None));

    let strength = |r: &Request| (r.priority, !r.optional);
    // The pieces each candidate wins.
    let mut won: Vec<Vec<Piece>> = vec![Vec::new(); candidates.len()];
    for piece in pieces {
        let applying: Vec<usize> = (0..candidates.len())
            .filter(|&i| covers(&candidates[i].1, piece))
            .collect();
        let Some(best) = applying.iter().map(|&i| strength(&candidates[i].1)).max() else {
            continue;
        };
        let winners: Vec<usize> = applying
            .into_iter()
            .filter(|&i| strength(&candidates[i].1) == best)
            .collect();
        let first = &candidates[winners[0]].1;
        if let Some(&other) = winners[1..]
            .iter()
            .find(|&&i| candidates[i].1.value != first.value)
        {
            let second = &candidates[other].1;
            return Err(SpecError::Conflict {
                symbol: first.symbol.clone(),
                first: first.origin.clone(),
                first_value: first.value.to_string(),
                second: second.origin.clone(),
                second_value: second.value.to_string(),
            });
        }
        won[*winners.last().expect("one winner at least")].push(piece);
    }

    for ((index, request), pieces) in candidates.iter().zip(won) {
        let mut runs: Vec<Piece> = Vec::new();
        for (lo, hi) in pieces {
            match runs.last_mut() {
                Some(run) if run.1 == lo => run.1 = hi,
                _ => runs.push((lo, hi)),
            }
        }
        for (since, until) in runs {
            out.push((
                *index,
                Request {
                    since,
                    until,
                    ..request.clone()
                },
            ));
        }
    }
    Ok(())
}
