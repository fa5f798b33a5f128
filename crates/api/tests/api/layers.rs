//! The module layering of `crates/api/src`, read from the code: infrastructure imports no
//! area, state and areas never import the assembly (server, route table, OpenAPI
//! document, CLI). `cargo nextest run -p gatehouse-api --test api layers -- --nocapture`
//! prints the import graph.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Shared plumbing: imports nothing above itself.
const INFRASTRUCTURE: &[&str] = &[
    "clock", "config", "crypto", "db", "entity", "http", "instance", "mail", "outbound", "throttle",
];
/// Assembles the areas into a program; nothing below imports it.
const ASSEMBLY: &[&str] = &["cli", "main", "lib", "openapi", "routes", "server"];
/// Below the areas, above the infrastructure: the state (it holds the areas' runtime
/// values), the job runner that hands it to their jobs, the unit of work.
const PLATFORM: &[&str] = &["jobs", "state", "unit_of_work"];

/// The top-level module a source file belongs to: `mcp/client.rs` → `mcp`.
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file names with `crate::…`, including inside
/// `use crate::{a::b, c, d::{e, f}}`.
fn imports(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: those at brace depth 0 after `{` or `,`.
            let (mut depth, mut expect_name) = (0, true);
            let mut chars = group.char_indices().peekable();
            while let Some((j, c)) = chars.next() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if expect_name && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                        let name = ident(&group[j..]);
                        for _ in 1..name.len() {
                            chars.next();
                        }
                        if name != "self" {
                            out.insert(name);
                        }
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = module_of(path.strip_prefix(&root).unwrap());
                let src = std::fs::read_to_string(&path).unwrap();
                let deps = graph.entry(module.clone()).or_default();
                deps.extend(imports(&src).into_iter().filter(|d| *d != module));
            }
        }
    }
    graph
}

#[test]
fn infrastructure_imports_no_area_and_nothing_imports_the_assembly() {
    let graph = graph();
    let modules: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        println!(
            "{module} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        for dep in deps.iter().filter(|d| modules.contains(d.as_str())) {
            let (m, d) = (module.as_str(), dep.as_str());
            let upward = if INFRASTRUCTURE.contains(&m) {
                !INFRASTRUCTURE.contains(&d)
            } else if PLATFORM.contains(&m) || !ASSEMBLY.contains(&m) {
                ASSEMBLY.contains(&d)
            } else {
                false
            };
            if upward {
                wrong.push(format!("{m} imports {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:#?}");
}

#[test]
fn the_import_reader_sees_grouped_and_nested_paths() {
    let src = "use crate::{a::b, c, d::{e, f}, self};\nfn x() { crate::g::h(); }";
    let got: Vec<String> = imports(src).into_iter().collect();
    assert_eq!(got, ["a", "c", "d", "g"]);
}
