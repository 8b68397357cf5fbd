//! A position index of a YAML document: where each key and value starts, so semantic errors found after
//! deserialization can point at `file:line:column`. Also detects duplicate keys, which plain serde
//! deserialization of a map would silently merge.

use std::collections::{HashMap, HashSet};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Pos {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A duplicate key found while indexing.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub path: Vec<String>,
    pub key: String,
    pub at: Pos,
    pub first: Pos,
}

#[derive(Debug, Default)]
pub struct SourceIndex {
    keys: HashMap<Vec<String>, Pos>,
    values: HashMap<Vec<String>, Pos>,
    /// Values written as plain (unquoted) scalars.
    plain: HashSet<Vec<String>>,
    pub duplicates: Vec<Duplicate>,
    /// Keys present with no value (`environments:` and nothing after it).
    pub empty_values: Vec<(Vec<String>, Pos)>,
}

enum Frame {
    Map {
        key: Option<String>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        next: usize,
    },
}

struct Builder {
    index: SourceIndex,
    stack: Vec<Frame>,
    path: Vec<String>,
}

impl Builder {
    /// Called for a node (scalar or collection start) at `pos`; returns the path of the node, or None
    /// when the node is a mapping key (recorded separately).
    fn node(&mut self, pos: Pos, scalar: Option<&str>) -> Option<Vec<String>> {
        match self.stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Seq { next }) => {
                let mut p = self.path.clone();
                p.push(next.to_string());
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { key, seen }) => {
                if key.is_none() {
                    let k = scalar.unwrap_or("<complex key>").to_string();
                    let mut p = self.path.clone();
                    p.push(k.clone());
                    if let Some(first) = seen.get(&k) {
                        self.index.duplicates.push(Duplicate {
                            path: self.path.clone(),
                            key: k.clone(),
                            at: pos,
                            first: *first,
                        });
                    } else {
                        seen.insert(k.clone(), pos);
                        self.index.keys.insert(p, pos);
                    }
                    *key = Some(k);
                    None
                } else {
                    let mut p = self.path.clone();
                    p.push(key.take().unwrap_or_default());
                    Some(p)
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::Scalar(ref s, style, ..) => {
                if let Some(p) = self.node(pos, Some(s)) {
                    if style == TScalarStyle::Plain {
                        self.index.plain.insert(p.clone());
                        let is_null = s.is_empty() || s == "~" || s == "null";
                        if is_null && matches!(self.stack.last(), Some(Frame::Map { .. })) {
                            let key = self.index.keys.get(&p).copied().unwrap_or(pos);
                            self.index.empty_values.push((p.clone(), key));
                        }
                    }
                    self.index.values.entry(p).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.node(pos, Some("<alias>")) {
                    self.index.values.entry(p).or_insert(pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                let p = self.node(pos, None).unwrap_or_else(|| {
                    // a collection used as a mapping key: index it under a placeholder
                    let mut p = self.path.clone();
                    p.push("<complex key>".into());
                    p
                });
                self.index.values.entry(p.clone()).or_insert(pos);
                self.path = p;
                self.stack.push(if is_map {
                    Frame::Map {
                        key: None,
                        seen: HashMap::new(),
                    }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.path.pop();
            }
            _ => {}
        }
    }
}

impl SourceIndex {
    /// Index `text`. Syntax errors are left to the deserializer, which reports them with a location;
    /// an index of a broken document is simply partial.
    pub fn build(text: &str) -> SourceIndex {
        let mut b = Builder {
            index: SourceIndex::default(),
            stack: Vec::new(),
            path: Vec::new(),
        };
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut b, false);
        b.index
    }

    /// Position of the value at `path` (falls back to its key, then to the closest parent).
    pub fn value(&self, path: &[&str]) -> Pos {
        let mut p: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        loop {
            if let Some(pos) = self.values.get(&p).or_else(|| self.keys.get(&p)) {
                return *pos;
            }
            if p.pop().is_none() {
                return Pos { line: 1, col: 1 };
            }
        }
    }

    /// Was the value at `path` written without quotes?
    pub fn is_plain(&self, path: &[&str]) -> bool {
        let p: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.plain.contains(&p)
    }

    /// Position of the key at `path` (falls back to the value, then to the closest parent).
    pub fn key(&self, path: &[&str]) -> Pos {
        let p: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.keys
            .get(&p)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_duplicates_found() {
        let text = "fleet: a\nenvironments:\n  prd:\n    account: \"1\"\n    functions: [x, y]\n  prd: {}\n";
        let idx = SourceIndex::build(text);
        assert_eq!(idx.value(&["fleet"]), Pos { line: 1, col: 8 });
        assert_eq!(
            idx.key(&["environments", "prd", "account"]),
            Pos { line: 4, col: 5 }
        );
        assert_eq!(
            idx.value(&["environments", "prd", "functions", "1"]),
            Pos { line: 5, col: 20 }
        );
        assert_eq!(idx.duplicates.len(), 1);
        assert_eq!(idx.duplicates[0].key, "prd");
        assert_eq!(idx.duplicates[0].at, Pos { line: 6, col: 3 });
        assert_eq!(idx.duplicates[0].first, Pos { line: 3, col: 3 });
    }
}
