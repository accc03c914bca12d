//! kmod's binary index files (`modules.*.bin`): a path-compressed trie
//! keyed by 7-bit ASCII strings, each node holding a list of prioritised
//! string values.
//!
//! File layout (all integers big-endian): magic `0xB007F457`, version
//! `0x00020001`, the offset of the root node, then the nodes. Nodes are
//! written children first (post-order), so the root is last. A node
//! offset's high nibble holds flags: `0x8` the node has a prefix (a
//! NUL-terminated string), `0x2` it has children (first and last child
//! character, then one offset per character in that range, 0 for none),
//! `0x4` it has values (a count, then per value a priority and a
//! NUL-terminated string). The builder below produces exactly the tries
//! kmod's depmod writes: the same node splits, the same value order
//! (ascending priority; among equal priorities, the latest insert first).

use std::collections::BTreeMap;

/// Index magic number.
pub const MAGIC: u32 = 0xB007_F457;
/// Index format version (2.1).
pub const VERSION: u32 = 0x0002_0001;
const FLAG_PREFIX: u32 = 0x8000_0000;
const FLAG_VALUES: u32 = 0x4000_0000;
const FLAG_CHILDS: u32 = 0x2000_0000;
const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// A key or value byte outside 7-bit ASCII (kmod refuses them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Module index: bad character '{}'=0x{byte:x} - only 7-bit ASCII is supported:\n{}", byte.escape_ascii(), String::from_utf8_lossy(string))]
pub struct BadCharacter {
    /// The offending byte.
    pub byte: u8,
    /// The whole key or value.
    pub string: Vec<u8>,
}

#[derive(Default)]
struct Node {
    prefix: Vec<u8>,
    /// (priority, value), kmod's insertion order.
    values: Vec<(u32, Box<[u8]>)>,
    children: BTreeMap<u8, usize>,
}

/// An in-memory index being built, like depmod's.
pub struct IndexBuilder {
    nodes: Vec<Node>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn check(s: &[u8]) -> Result<(), BadCharacter> {
    match s.iter().find(|&&c| c >= 128) {
        Some(&byte) => Err(BadCharacter {
            byte,
            string: s.to_vec(),
        }),
        None => Ok(()),
    }
}

fn add_value(values: &mut Vec<(u32, Box<[u8]>)>, value: &[u8], priority: u32) -> bool {
    let duplicate = values.iter().any(|(_, v)| &**v == value);
    let pos = values
        .iter()
        .position(|(p, _)| *p >= priority)
        .unwrap_or(values.len());
    values.insert(pos, (priority, value.into()));
    duplicate
}

impl IndexBuilder {
    /// An empty index (a root node with an empty prefix).
    pub fn new() -> Self {
        IndexBuilder {
            nodes: vec![Node::default()],
        }
    }

    /// Insert `value` under `key` with `priority`. Returns whether the same
    /// value was already there (it is added again all the same, as kmod does).
    pub fn insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        priority: u32,
    ) -> Result<bool, BadCharacter> {
        check(key)?;
        check(value)?;
        let mut node = 0usize;
        let mut i = 0usize;
        loop {
            // make node.prefix a prefix of key[i..], splitting the node if needed
            let plen = self.nodes[node].prefix.len();
            let mut j = 0;
            while j < plen {
                let ch = self.nodes[node].prefix[j];
                if key.get(i + j) != Some(&ch) {
                    let old = std::mem::take(&mut self.nodes[node]);
                    let child = Node {
                        prefix: old.prefix[j + 1..].to_vec(),
                        values: old.values,
                        children: old.children,
                    };
                    let idx = self.nodes.len();
                    self.nodes.push(child);
                    let n = &mut self.nodes[node];
                    n.prefix = old.prefix[..j].to_vec();
                    n.children.insert(ch, idx);
                    break;
                }
                j += 1;
            }
            i += j;
            let Some(&ch) = key.get(i) else {
                return Ok(add_value(&mut self.nodes[node].values, value, priority));
            };
            match self.nodes[node].children.get(&ch) {
                Some(&c) => {
                    node = c;
                    i += 1;
                }
                None => {
                    let idx = self.nodes.len();
                    self.nodes.push(Node {
                        prefix: key[i + 1..].to_vec(),
                        values: vec![(priority, value.into())],
                        children: BTreeMap::new(),
                    });
                    self.nodes[node].children.insert(ch, idx);
                    return Ok(false);
                }
            }
        }
    }

    /// The index file bytes, laid out as kmod's depmod writes them.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let root = self.write_node(0, &mut out);
        out[8..12].copy_from_slice(&root.to_be_bytes());
        out
    }

    fn write_node(&self, idx: usize, out: &mut Vec<u8>) -> u32 {
        // Iterative post-order walk (keys can be thousands of bytes long).
        enum Step {
            Enter(usize),
            Emit(usize),
        }
        let mut offsets: Vec<u32> = vec![0; self.nodes.len()];
        let mut stack = vec![Step::Enter(idx)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(n) => {
                    stack.push(Step::Emit(n));
                    // children are written in ascending character order
                    for &c in self.nodes[n].children.values().rev() {
                        stack.push(Step::Enter(c));
                    }
                }
                Step::Emit(n) => {
                    let node = &self.nodes[n];
                    let mut offset = out.len() as u32;
                    if !node.prefix.is_empty() {
                        out.extend_from_slice(&node.prefix);
                        out.push(0);
                        offset |= FLAG_PREFIX;
                    }
                    if let (Some((&first, _)), Some((&last, _))) = (
                        node.children.first_key_value(),
                        node.children.last_key_value(),
                    ) {
                        out.push(first);
                        out.push(last);
                        for ch in first..=last {
                            let o = node.children.get(&ch).map_or(0, |&c| offsets[c]);
                            out.extend_from_slice(&o.to_be_bytes());
                        }
                        offset |= FLAG_CHILDS;
                    }
                    if !node.values.is_empty() {
                        out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
                        for (p, v) in &node.values {
                            out.extend_from_slice(&p.to_be_bytes());
                            out.extend_from_slice(v);
                            out.push(0);
                        }
                        offset |= FLAG_VALUES;
                    }
                    offsets[n] = offset;
                }
            }
        }
        offsets[idx]
    }
}

/// Why an index file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Not an index file, or another version.
    #[error("bad magic or version")]
    BadHeader,
    /// A node or string runs past the end of the file, or nodes loop.
    #[error("corrupt index at offset {0}")]
    Corrupt(u32),
}

/// One (key, priority, value) of an index.
pub type Entry = (Vec<u8>, u32, Vec<u8>);

/// A read-only view of an index file, for lookups and dumps.
pub struct Index<'a> {
    data: &'a [u8],
    root: u32,
}

struct RawNode<'a> {
    prefix: &'a [u8],
    first: u8,
    children: Vec<u32>,
    values: Vec<(u32, &'a [u8])>,
}

impl<'a> Index<'a> {
    /// Check the header of `data`.
    pub fn new(data: &'a [u8]) -> Result<Self, IndexError> {
        let word = |o: usize| {
            data.get(o..o + 4)
                .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        };
        if word(0) != Some(MAGIC) || word(4) != Some(VERSION) {
            return Err(IndexError::BadHeader);
        }
        let root = word(8).ok_or(IndexError::BadHeader)?;
        Ok(Index { data, root })
    }

    fn cstr(&self, at: usize, node: u32) -> Result<(&'a [u8], usize), IndexError> {
        let rest = self.data.get(at..).ok_or(IndexError::Corrupt(node))?;
        let n = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(IndexError::Corrupt(node))?;
        Ok((&rest[..n], at + n + 1))
    }

    fn word(&self, at: usize, node: u32) -> Result<u32, IndexError> {
        self.data
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            .ok_or(IndexError::Corrupt(node))
    }

    fn node(&self, off: u32) -> Result<RawNode<'a>, IndexError> {
        let mut at = (off & OFFSET_MASK) as usize;
        let mut n = RawNode {
            prefix: b"",
            first: 0,
            children: Vec::new(),
            values: Vec::new(),
        };
        if off & FLAG_PREFIX != 0 {
            let (s, next) = self.cstr(at, off)?;
            n.prefix = s;
            at = next;
        }
        if off & FLAG_CHILDS != 0 {
            let b = self.data.get(at..at + 2).ok_or(IndexError::Corrupt(off))?;
            let (first, last) = (b[0], b[1]);
            if last < first {
                return Err(IndexError::Corrupt(off));
            }
            at += 2;
            n.first = first;
            for _ in first..=last {
                n.children.push(self.word(at, off)?);
                at += 4;
            }
        }
        if off & FLAG_VALUES != 0 {
            let count = self.word(at, off)?;
            at += 4;
            for _ in 0..count {
                let p = self.word(at, off)?;
                let (s, next) = self.cstr(at + 4, off)?;
                n.values.push((p, s));
                at = next;
            }
        }
        Ok(n)
    }

    /// The values stored under exactly `key`, in file order.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        let mut off = self.root;
        let mut i = 0;
        let mut steps = 0usize;
        loop {
            steps += 1;
            if steps > self.data.len() {
                return Err(IndexError::Corrupt(off));
            }
            let n = self.node(off)?;
            if !key[i.min(key.len())..].starts_with(n.prefix) {
                return Ok(Vec::new());
            }
            i += n.prefix.len();
            if i == key.len() {
                return Ok(n.values.iter().map(|(p, v)| (*p, v.to_vec())).collect());
            }
            let ch = key[i];
            let Some(&child) = ch
                .checked_sub(n.first)
                .and_then(|d| n.children.get(usize::from(d)))
            else {
                return Ok(Vec::new());
            };
            if child == 0 || ch < n.first {
                return Ok(Vec::new());
            }
            off = child;
            i += 1;
        }
    }

    /// Every (key, priority, value), keys in ascending byte order.
    pub fn dump(&self) -> Result<Vec<Entry>, IndexError> {
        let mut out = Vec::new();
        // (node offset, key so far)
        let mut stack = vec![(self.root, Vec::new())];
        let mut visited = 0usize;
        while let Some((off, mut key)) = stack.pop() {
            visited += 1;
            if visited > self.data.len() {
                return Err(IndexError::Corrupt(off));
            }
            let n = self.node(off)?;
            key.extend_from_slice(n.prefix);
            for (p, v) in &n.values {
                out.push((key.clone(), *p, v.to_vec()));
            }
            for (d, &c) in n.children.iter().enumerate().rev() {
                if c != 0 {
                    let mut k = key.clone();
                    k.push(n.first.wrapping_add(d as u8));
                    stack.push((c, k));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = IndexBuilder::new();
        let keys: &[&[u8]] = &[b"abc", b"abd", b"ab", b"b", b"abcdef", b"", b"x-y"];
        for (i, k) in keys.iter().enumerate() {
            b.insert(k, format!("v{i}").as_bytes(), i as u32).unwrap();
        }
        assert!(b.insert(b"ab", b"v2", 0).unwrap());
        let bytes = b.write();
        let idx = Index::new(&bytes).unwrap();
        assert_eq!(idx.lookup(b"abd").unwrap(), vec![(1, b"v1".to_vec())]);
        assert_eq!(
            idx.lookup(b"ab").unwrap(),
            vec![(0, b"v2".to_vec()), (2, b"v2".to_vec())]
        );
        assert_eq!(idx.lookup(b"a").unwrap(), vec![]);
        assert_eq!(idx.lookup(b"abcd").unwrap(), vec![]);
        assert_eq!(idx.dump().unwrap().len(), keys.len() + 1);
        assert!(b.insert(b"\xff", b"", 0).is_err());
    }

    #[test]
    fn equal_priorities_newest_first() {
        let mut b = IndexBuilder::new();
        b.insert(b"k", b"first", 0).unwrap();
        b.insert(b"k", b"second", 0).unwrap();
        let bytes = b.write();
        let v = Index::new(&bytes).unwrap().lookup(b"k").unwrap();
        assert_eq!(v[0].1, b"second");
    }
}
