//! Declared functions (§10.4): which names each file sees (its own and its imports', with
//! namespace prefixes, like types), and the check of a call against the signatures.

use crate::ast::{CallSite, SchemaDef, SignatureDef};
use crate::catalog::Catalog;
use crate::diagnostic::Diagnostics;
use crate::model::Schema;
use crate::types::Types;
use std::collections::BTreeMap;

/// A declared function: the file that defines it and its place in that file's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declared {
    pub file: usize,
    pub index: usize,
}

/// The function names each file sees.
pub(crate) fn scopes(catalog: &Catalog) -> Vec<BTreeMap<String, Declared>> {
    let mut scopes: Vec<Option<BTreeMap<String, Declared>>> = vec![None; catalog.files.len()];
    for file in 0..catalog.files.len() {
        build(file, catalog, &mut scopes);
    }
    scopes.into_iter().map(Option::unwrap_or_default).collect()
}

fn build(file: usize, catalog: &Catalog, scopes: &mut Vec<Option<BTreeMap<String, Declared>>>) {
    if scopes[file].is_some() {
        return;
    }
    // Marks the file as in progress; import edges are acyclic, so this is never read early.
    scopes[file] = Some(BTreeMap::new());
    let mut scope = BTreeMap::new();
    for edge in &catalog.files[file].imports {
        build(edge.file, catalog, scopes);
        let imported = scopes[edge.file].clone().unwrap_or_default();
        for (name, declared) in imported {
            let name = match &edge.namespace {
                Some(ns) => format!("{ns}:{name}"),
                None => name,
            };
            scope.insert(name, declared);
        }
    }
    for (index, function) in catalog.files[file].ast.functions.iter().enumerate() {
        scope.insert(function.name.name.clone(), Declared { file, index });
    }
    scopes[file] = Some(scope);
}

/// Checks a call of a declared function against its signatures: some signature must accept
/// the number of arguments, and the literal arguments must fit its argument types.
pub(super) fn check_call(
    catalog: &Catalog,
    types: &mut Types,
    declared: &Declared,
    call: &CallSite,
    diagnostics: &mut Diagnostics,
) {
    let function = &catalog.files[declared.file].ast.functions[declared.index];
    if function.signatures.is_empty() {
        return;
    }
    let mut reasons = Vec::new();
    for (number, signature) in function.signatures.iter().enumerate() {
        match accepts(types, declared.file, signature, &call.args) {
            Ok(()) => return,
            Err(reason) => reasons.push(format!("signature {} {reason}", number + 1)),
        }
    }
    diagnostics.error(
        &call.name.location,
        format!(
            "no signature of function \"${}\" (defined at {}) accepts this call: {} (§10.4)",
            call.name.name,
            function.name.location,
            reasons.join("; ")
        ),
    );
}

/// Whether `signature` accepts `args`, or why not.
fn accepts(
    types: &mut Types,
    file: usize,
    signature: &SignatureDef,
    args: &[crate::model::Expr],
) -> Result<(), String> {
    let required = signature.arguments.len();
    let optional = signature.optional_arguments.len();
    let count = args.len();
    let arity_ok = if required + optional == 0 {
        signature.variadic || count == 0
    } else if signature.variadic {
        count >= required
    } else {
        (required..=required + optional).contains(&count)
    };
    if !arity_ok {
        let wanted = match (required, optional, signature.variadic) {
            (0, 0, false) => "no arguments".to_string(),
            (r, 0, false) => format!("{r} argument(s)"),
            (r, o, false) => format!("{r} to {} arguments", r + o),
            (r, _, true) => format!("at least {r} argument(s)"),
        };
        return Err(format!("takes {wanted}, not {count}"));
    }
    for (i, arg) in args.iter().enumerate() {
        if arg.has_call() {
            continue;
        }
        let Some(def) = schema_for(signature, i) else {
            continue;
        };
        let Some(schema) = resolve(types, file, def) else {
            continue;
        };
        let mut problems = Vec::new();
        crate::values::check(
            arg,
            &schema,
            &types.data_types,
            &format!("argument {}", i + 1),
            &mut problems,
        );
        if let Some(problem) = problems.first() {
            return Err(problem.message.clone());
        }
    }
    Ok(())
}

/// The schema of argument `i`: a required one, an optional one, or the repeated last one.
fn schema_for(signature: &SignatureDef, i: usize) -> Option<&SchemaDef> {
    let required = &signature.arguments;
    let optional = &signature.optional_arguments;
    required
        .get(i)
        .or_else(|| optional.get(i - required.len().min(i)))
        .or_else(|| {
            signature
                .variadic
                .then(|| optional.last().or(required.last()))
                .flatten()
        })
}

/// A signature's schema, resolved in the scope of the file that defines the function (errors
/// in it are reported where the signature is checked on its own).
fn resolve(types: &mut Types, file: usize, def: &SchemaDef) -> Option<Schema> {
    let mut quiet = Diagnostics::default();
    types.schema_def(file, def, "a function argument", &mut quiet)
}

/// Resolves the schemas of every signature once, reporting unknown types there.
pub(super) fn check_signatures(
    catalog: &Catalog,
    types: &mut Types,
    diagnostics: &mut Diagnostics,
) {
    for (file, loaded) in catalog.files.iter().enumerate() {
        for function in &loaded.ast.functions {
            for signature in &function.signatures {
                let what = format!("a signature of function \"{}\"", function.name.name);
                for def in signature
                    .arguments
                    .iter()
                    .chain(&signature.optional_arguments)
                    .chain(&signature.result)
                {
                    types.schema_def(file, def, &what, diagnostics);
                }
                if let Some(implementation) = &signature.implementation {
                    types.check_implementation(file, implementation, &what, diagnostics);
                }
            }
        }
    }
}
