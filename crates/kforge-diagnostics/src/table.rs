//! Plain text tables: columns aligned on the widest cell, two spaces
//! apart, the last column left ragged (for `kforge test`'s report, and any
//! other command that prints rows).

/// `head` and `rows` as aligned columns, one line each, trailing spaces
/// trimmed. A row shorter than `head` leaves its last columns empty.
pub fn columns(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, s) in width.iter_mut().zip(r) {
            *w = (*w).max(s.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, s) in cells.enumerate() {
            l.push_str(s);
            if i + 1 < width.len() {
                let pad = width[i].saturating_sub(s.chars().count()) + 2;
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut head.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::columns;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let t = columns(
            &["spec", "result"],
            &[
                vec!["a-long-name.toml".into(), "passed".into()],
                vec!["b.toml".into(), "failed (exit 3)".into()],
            ],
        );
        assert_eq!(
            t,
            "spec              result\n\
             a-long-name.toml  passed\n\
             b.toml            failed (exit 3)\n"
        );
        // Wide characters count as one column each, as a terminal shows
        // most of them; the last column is never padded.
        assert_eq!(columns(&["é", "x"], &[vec!["ab".into()]]), "é   x\nab\n");
    }
}
