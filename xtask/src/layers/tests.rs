//! The checker against small trees made for each rule, so each rule is seen to fail.

use super::*;

/// A tree under a fresh temp dir: (path under src, text).
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("xtask-layers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in files {
        let p = root.join("src").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    root
}

const LAYERS: &[&[&str]] = &[&["model"], &["sink"], &["report"]];

fn krate() -> Crate {
    Crate {
        src: "src",
        roots: &["lib.rs"],
        layers: Some(LAYERS),
    }
}

fn problems(name: &str, files: &[(&str, &str)]) -> Vec<String> {
    let root = tree(name, files);
    let (p, _) = check_crate(&root, &krate()).unwrap();
    let _ = std::fs::remove_dir_all(&root);
    p
}

const LIB: &str = "//! lib\npub mod model;\npub mod report;\npub mod sink;\n";

#[test]
fn a_clean_tree_passes() {
    let p = problems(
        "clean",
        &[
            ("lib.rs", LIB),
            ("model.rs", "//! m\npub struct Run;\n"),
            ("sink/mod.rs", "//! s\nmod runs;\nuse crate::model::Run;\n"),
            ("sink/runs.rs", "//! r\nuse super::super::model::Run;\n"),
            ("report.rs", "//! r\nfn f(_: crate::sink::X) {}\n"),
        ],
    );
    assert!(p.is_empty(), "{p:#?}");
}

#[test]
fn an_upward_import_is_named_with_its_place() {
    let p = problems(
        "upward",
        &[
            ("lib.rs", LIB),
            ("model.rs", "//! m\n"),
            ("report.rs", "//! r\npub struct Summary;\n"),
            (
                "sink/runs.rs",
                "//! r\n\nuse crate::{model, report::Summary};\n",
            ),
            ("sink/mod.rs", "//! s\nmod runs;\n"),
        ],
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("src/sink/runs.rs:3: sink imports report (`crate::report::Summary`)")
            && p[0].contains("report is above sink"),
        "{}",
        p[0]
    );
}

#[test]
fn a_cycle_between_siblings_is_named_step_by_step() {
    let p = problems(
        "cycle",
        &[
            ("lib.rs", LIB),
            ("model.rs", "//! m\n"),
            ("report.rs", "//! r\n"),
            ("sink/mod.rs", "//! s\nmod a;\nmod b;\n"),
            ("sink/a.rs", "//! a\nuse super::b::B;\npub struct A;\n"),
            (
                "sink/b.rs",
                "//! b\npub struct B;\nfn f() -> crate::sink::a::A { todo!() }\n",
            ),
        ],
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(
            "import cycle in sink: a -> b (src/sink/a.rs:2), b -> a (src/sink/b.rs:3)"
        ),
        "{}",
        p[0]
    );
}

#[test]
fn long_files_missing_headers_and_unranked_modules_are_named() {
    let long = format!("//! x\n{}", "fn f() {}\n".repeat(MAX_LINES));
    // The same length in test code does not count.
    let tested = format!(
        "//! t\n#[cfg(test)]\nmod tests {{\n{}}}\n",
        "fn f() {}\n".repeat(MAX_LINES)
    );
    let p = problems(
        "sizes",
        &[
            ("lib.rs", "//! lib\npub mod model;\npub mod extra;\n"),
            ("model.rs", &long),
            ("report.rs", &tested),
            ("extra.rs", "pub struct X;\n"),
        ],
    );
    let has = |s: &str| p.iter().any(|x| x.contains(s));
    assert!(has("src/model.rs: 451 lines outside tests"), "{p:#?}");
    assert!(has("src/extra.rs: no `//!` header"), "{p:#?}");
    assert!(has("module extra is in no layer"), "{p:#?}");
    assert!(!has("report.rs"), "{p:#?}");
}
