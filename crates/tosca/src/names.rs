//! Namespaces (§6.8.4): which type names a file can use.
//!
//! Each file has a root namespace holding its own types and the types of the files it imports
//! without a namespace; a file imported with `namespace: ns` contributes its names as `ns:Name`
//! (so nested imports give `outer:inner:Name`). Each type kind has its own names.
//!
//! A file's own type takes precedence over a type it imports into its root namespace under the
//! same name; two imported types of the same name (from different files) make the name
//! ambiguous, which is reported where it is used (§6.8.4).

use crate::ast::TypeKind;
use crate::catalog::Catalog;
use std::collections::HashMap;

pub(crate) type TypeId = usize;

/// The type names visible from one file.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scope {
    names: HashMap<(TypeKind, String), Vec<TypeId>>,
}

pub(crate) enum Lookup {
    Found(TypeId),
    /// The name reaches different types (imported without a namespace from different files).
    Ambiguous(Vec<TypeId>),
    Unknown,
}

impl Scope {
    fn add(&mut self, kind: TypeKind, name: String, id: TypeId) {
        let ids = self.names.entry((kind, name)).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    pub fn lookup(&self, kind: TypeKind, name: &str) -> Lookup {
        match self.names.get(&(kind, name.to_string())).map(Vec::as_slice) {
            None | Some([]) => Lookup::Unknown,
            Some([id]) => Lookup::Found(*id),
            Some(ids) => Lookup::Ambiguous(ids.to_vec()),
        }
    }

    /// Every name of `kind` visible here.
    pub fn names(&self, kind: TypeKind) -> impl Iterator<Item = &str> {
        self.names
            .keys()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, name)| name.as_str())
    }
}

/// Builds the scope of every file. `own[f]` lists the types defined in file `f`.
pub(crate) fn build_scopes(
    catalog: &Catalog,
    own: &[Vec<(TypeKind, String, TypeId)>],
) -> Vec<Scope> {
    let mut scopes: Vec<Option<Scope>> = vec![None; catalog.files.len()];
    for file in 0..catalog.files.len() {
        build(file, catalog, own, &mut scopes);
    }
    scopes.into_iter().map(Option::unwrap_or_default).collect()
}

fn build(
    file: usize,
    catalog: &Catalog,
    own: &[Vec<(TypeKind, String, TypeId)>],
    scopes: &mut Vec<Option<Scope>>,
) {
    if scopes[file].is_some() {
        return;
    }
    // Import edges never form a cycle (the loader drops the edge that would close one).
    let mut scope = Scope::default();
    for (kind, name, id) in &own[file] {
        scope.add(*kind, name.clone(), *id);
    }
    for edge in &catalog.files[file].imports {
        build(edge.file, catalog, own, scopes);
        let imported = scopes[edge.file].clone().unwrap_or_default();
        for ((kind, name), ids) in imported.names {
            let name = match &edge.namespace {
                Some(ns) => format!("{ns}:{name}"),
                None => name,
            };
            // A file's own definitions take precedence over imported ones of the same name.
            if own[file].iter().any(|(k, n, _)| *k == kind && *n == name) {
                continue;
            }
            for id in ids {
                scope.add(kind, name.clone(), id);
            }
        }
    }
    scopes[file] = Some(scope);
}

/// The repository names each file sees: its own and those of the files it imports (with the
/// import's namespace as a prefix).
pub(crate) fn repository_scopes(catalog: &Catalog) -> Vec<Vec<String>> {
    let mut scopes: Vec<Option<Vec<String>>> = vec![None; catalog.files.len()];
    for file in 0..catalog.files.len() {
        repositories(file, catalog, &mut scopes);
    }
    scopes.into_iter().map(Option::unwrap_or_default).collect()
}

fn repositories(file: usize, catalog: &Catalog, scopes: &mut Vec<Option<Vec<String>>>) {
    if scopes[file].is_some() {
        return;
    }
    scopes[file] = Some(Vec::new());
    let mut names: Vec<String> = catalog.files[file]
        .ast
        .repositories
        .iter()
        .map(|r| r.name.name.clone())
        .collect();
    for edge in &catalog.files[file].imports {
        repositories(edge.file, catalog, scopes);
        for name in scopes[edge.file].clone().unwrap_or_default() {
            names.push(match &edge.namespace {
                Some(ns) => format!("{ns}:{name}"),
                None => name,
            });
        }
    }
    scopes[file] = Some(names);
}
