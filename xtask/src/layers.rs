//! `cargo xtask layers` (the first check of `cargo xtask test`): the rules of the code's shape,
//! read from the source with `syn`, each failure named with its file and line.
//!
//! - Layers: each crate's top-level modules are ranked ([`CRATES`]); a module may import only
//!   from modules of a lower rank. A top-level module missing from the table is an error too.
//! - Cycles: within any folder, the modules that import each other in a circle.
//! - Size: no source file over [`MAX_LINES`] lines outside its `#[cfg(test)]` code (test
//!   files, `tests.rs` or under `tests/`, do not count).
//! - Headers: every source file starts with a `//!` comment saying what it holds.
//!
//! Imports are the paths that start with `crate`, `super` or `self`, in `use` trees and in
//! code: anything else names an item in scope (already imported) or another crate.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use syn::visit::Visit;

/// Non-test lines a source file may have.
pub const MAX_LINES: usize = 450;

/// A crate's source folder, its root files (a package's library and binary roots) and its
/// layers, bottom first (`None`: not layered, only cycles, sizes and headers are checked).
pub struct Crate {
    pub src: &'static str,
    pub roots: &'static [&'static str],
    pub layers: Option<&'static [&'static [&'static str]]>,
}

/// The data path workload -> probes -> collect -> sink -> report, with the trace session,
/// sweep, plot and cli on top; `model` (plain result types) under all of them.
pub const CRATES: [Crate; 4] = [
    Crate {
        src: "netcopy/src",
        roots: &["lib.rs", "main.rs"],
        layers: Some(&[
            &["units", "privileges"],
            &["model"],
            &["testbed"],
            &["workload"],
            &["probes"],
            &["collect"],
            &["sink"],
            &["report"],
            &["trace"],
            &["sweep", "plot"],
            &["cli"],
        ]),
    },
    Crate {
        src: "netcopy-common/src",
        roots: &["lib.rs"],
        layers: Some(&[
            &["stage", "targets", "config", "maps", "offcpu", "uring"],
            &["exact", "brackets"],
            &["syscalls"],
            &["call"],
            &["aggregate", "sample", "batch"],
        ]),
    },
    Crate {
        src: "netcopy-ebpf/src",
        roots: &["main.rs", "lib.rs"],
        layers: Some(&[
            &["config", "fields", "counters"],
            &["targets"],
            &["call", "records"],
            &["syscalls"],
            &["sched", "net", "sample", "exact", "brackets", "uring"],
        ]),
    },
    Crate {
        src: "xtask/src",
        roots: &["main.rs"],
        layers: None,
    },
];

/// One import: from module `from` to the module path `to`, at `file:line`.
#[derive(Clone, Debug)]
struct Import {
    from: Vec<String>,
    to: Vec<String>,
    file: PathBuf,
    line: usize,
    text: String,
}

/// Collects the imports of one file and the lines of its test code.
struct Reader<'a> {
    file: &'a Path,
    module: Vec<String>,
    imports: Vec<Import>,
    test_lines: usize,
}

fn spelled(segments: &[String]) -> String {
    segments.join("::")
}

impl Reader<'_> {
    /// Resolve a path's leading `crate`/`super`/`self` to an absolute module path.
    fn import(&mut self, segments: Vec<String>, line: usize) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut to = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => self.module.clone(),
            _ => return,
        };
        let mut rest = segments
            .iter()
            .skip(usize::from(first == "crate"))
            .peekable();
        if first == "self" {
            rest.next();
        }
        while rest.peek().is_some_and(|s| *s == "super") {
            to.pop();
            rest.next();
        }
        to.extend(rest.cloned());
        self.imports.push(Import {
            from: self.module.clone(),
            to,
            file: self.file.to_owned(),
            line,
            text: spelled(&segments),
        });
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.import(full, line);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.import(full, line);
            }
            syn::UseTree::Glob(_) => self.import(prefix.clone(), line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, line);
                }
            }
        }
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

fn lines_of(span: proc_macro2::Span) -> usize {
    span.end().line.saturating_sub(span.start().line) + 1
}

impl<'ast> Visit<'ast> for Reader<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let line = u.use_token.span.start().line;
        self.use_tree(&mut Vec::new(), &u.tree, line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = p.segments.first() {
            self.import(segments, first.ident.span().start().line);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_cfg_test(&m.attrs) {
            if let Some((brace, _)) = &m.content {
                self.test_lines += lines_of(brace.span.join());
            }
        }
        if m.content.is_some() {
            self.module.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_cfg_test(&f.attrs) {
            self.test_lines += lines_of(f.block.brace_token.span.join());
        }
        syn::visit::visit_item_fn(self, f);
    }
}

/// A source file of a crate, with its module path.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    test: bool,
}

fn module_of(src: &Path, file: &Path, roots: &[&str]) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    if parts.is_empty() && roots.contains(&last.as_str()) {
        return Some(Vec::new());
    }
    let stem = last.strip_suffix(".rs")?;
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

fn sources(src: &Path, roots: &[&str]) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let Some(module) = module_of(src, &path, roots) else {
                    continue;
                };
                let test = module.iter().any(|m| m == "tests");
                out.push(Source { path, module, test });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Every problem found in `krate`, rooted at `root_dir`; the number of files read.
pub fn check_crate(root_dir: &Path, krate: &Crate) -> anyhow::Result<(Vec<String>, usize)> {
    let src = root_dir.join(krate.src);
    let files = sources(&src, krate.roots)?;
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut problems = Vec::new();
    let mut imports = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(&f.path)?;
        let shown = f.path.strip_prefix(root_dir).unwrap_or(&f.path).display();
        let ast = syn::parse_file(&text).with_context(|| format!("parse {shown}"))?;
        let mut reader = Reader {
            file: &f.path,
            module: f.module.clone(),
            imports: Vec::new(),
            test_lines: 0,
        };
        reader.visit_file(&ast);
        imports.extend(reader.imports);
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{shown}: no `//!` header saying what the file holds"
            ));
        }
        let lines = text.lines().count().saturating_sub(reader.test_lines);
        if !f.test && lines > MAX_LINES {
            problems.push(format!(
                "{shown}: {lines} lines outside tests, more than {MAX_LINES}: split it"
            ));
        }
    }
    let shown = |i: &Import| {
        format!(
            "{}:{}",
            i.file.strip_prefix(root_dir).unwrap_or(&i.file).display(),
            i.line
        )
    };
    if let Some(layers) = krate.layers {
        let rank = |m: &str| layers.iter().position(|l| l.contains(&m));
        let tops: BTreeSet<&str> = modules
            .iter()
            .filter_map(|m| m.first().map(String::as_str))
            .collect();
        for top in &tops {
            if rank(top).is_none() {
                problems.push(format!(
                    "{}: module {top} is in no layer: add it to the table in xtask/src/layers.rs",
                    krate.src
                ));
            }
        }
        for i in &imports {
            let (Some(from), Some(to)) = (i.from.first(), i.to.first()) else {
                continue;
            };
            if from == to || !tops.contains(to.as_str()) {
                continue;
            }
            if let (Some(a), Some(b)) = (rank(from), rank(to)) {
                if b >= a {
                    let how = if b == a { "beside" } else { "above" };
                    problems.push(format!(
                        "{}: {from} imports {to} (`{}`), but {to} is {how} {from} in the layers",
                        shown(i),
                        i.text
                    ));
                }
            }
        }
    }
    problems.extend(cycles(&imports, &modules, &shown));
    Ok((problems, files.len()))
}

/// Circles of imports between the modules of one folder, each named with one import per step.
fn cycles(
    imports: &[Import],
    modules: &BTreeSet<Vec<String>>,
    shown: &dyn Fn(&Import) -> String,
) -> Vec<String> {
    // folder -> (module -> module it imports -> an import that does).
    let mut graph: BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, &Import>>> =
        BTreeMap::new();
    for i in imports {
        let k = i.from.iter().zip(&i.to).take_while(|(a, b)| a == b).count();
        let (Some(a), Some(b)) = (i.from.get(k), i.to.get(k)) else {
            continue;
        };
        let folder = i.from[..k].to_vec();
        let is_module = |name: &String| {
            let mut m = folder.clone();
            m.push(name.clone());
            modules.contains(&m)
        };
        if is_module(a) && is_module(b) {
            graph
                .entry(folder)
                .or_default()
                .entry(a.clone())
                .or_default()
                .entry(b.clone())
                .or_insert(i);
        }
    }
    let mut out = Vec::new();
    for (folder, edges) in &graph {
        let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
        for start in edges.keys() {
            if let Some(path) = circle_from(edges, start) {
                let members: BTreeSet<String> = path.iter().cloned().collect();
                if !reported.insert(members) {
                    continue;
                }
                let steps: Vec<String> = path
                    .iter()
                    .zip(path.iter().cycle().skip(1))
                    .map(|(a, b)| format!("{a} -> {b} ({})", shown(edges[a][b])))
                    .collect();
                let place = if folder.is_empty() {
                    "the crate root".to_owned()
                } else {
                    folder.join("/")
                };
                out.push(format!("import cycle in {place}: {}", steps.join(", ")));
            }
        }
    }
    out
}

/// A shortest circle of imports back to `start`, if there is one (breadth first).
fn circle_from(
    edges: &BTreeMap<String, BTreeMap<String, &Import>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_owned()]);
    while let Some(m) = queue.pop_front() {
        for next in edges.get(&m).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut path = vec![m.clone()];
                while let Some(p) = came_from.get(path.last()?) {
                    path.push(p.clone());
                }
                path.reverse();
                return Some(path);
            }
            if !came_from.contains_key(next) {
                came_from.insert(next.clone(), m.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

/// Check every crate; an error naming each problem when any is found.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut files = 0;
    for krate in &CRATES {
        let (problems, n) = check_crate(root, krate)?;
        all.extend(problems);
        files += n;
    }
    if !all.is_empty() {
        for p in &all {
            println!("layers: {p}");
        }
        bail!(
            "{} problem(s) with the code's shape (listed above)",
            all.len()
        );
    }
    println!(
        "layers: {files} files: no upward import, no cycle, none over {MAX_LINES} lines, every one with a header"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
