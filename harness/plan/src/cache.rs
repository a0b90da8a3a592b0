//! Per-thread caches of what binding derives from scenario text: the named groups of a pattern
//! and the variables of an expression. `rigor check` binds every scenario on every slot it fits,
//! so the same few hundred patterns are otherwise compiled tens of thousands of times. The caches
//! grow with the distinct texts of the loaded scenarios, which are few.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Named groups of a pattern, or why it does not compile.
type Groups = Result<Arc<[String]>, String>;

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Groups>> = RefCell::new(HashMap::new());
    static EXPRESSIONS: RefCell<HashMap<String, Option<Arc<[String]>>>> = RefCell::new(HashMap::new());
}

/// The named groups of `pattern`, or why it does not compile.
pub fn capture_names(pattern: &str) -> Groups {
    PATTERNS.with(|cache| {
        if let Some(hit) = cache.borrow().get(pattern) {
            return hit.clone();
        }
        let result = regex::Regex::new(pattern)
            .map(|re| re.capture_names().flatten().map(str::to_owned).collect())
            .map_err(|e| rigor_model::check::regex_error(&e));
        cache
            .borrow_mut()
            .insert(pattern.to_owned(), result.clone());
        result
    })
}

/// The variables an arithmetic expression uses, or `None` if it does not parse.
pub fn expression_variables(expr: &str) -> Option<Arc<[String]>> {
    EXPRESSIONS.with(|cache| {
        if let Some(hit) = cache.borrow().get(expr) {
            return hit.clone();
        }
        let result = evalexpr::build_operator_tree::<evalexpr::DefaultNumericTypes>(expr)
            .ok()
            .map(|tree| {
                tree.iter_variable_identifiers()
                    .map(str::to_owned)
                    .collect()
            });
        cache.borrow_mut().insert(expr.to_owned(), result.clone());
        result
    })
}
