//! A measurement's arithmetic expression over captured values (`raw * 0.0625`), parsed once
//! ([`crate::parsed`]).

use std::collections::BTreeMap;

use evalexpr::{DefaultNumericTypes, EvalexprError, Node};

use crate::parsed::{Kind, Parsed};

/// An arithmetic expression, parsed when its scenario is checked.
pub type Expression = Parsed<Arithmetic>;

/// The arithmetic of `evalexpr`.
pub struct Arithmetic;

impl Kind for Arithmetic {
    type Value = Node<DefaultNumericTypes>;
    type Error = EvalexprError<DefaultNumericTypes>;
    fn parse(text: &str) -> Result<Self::Value, Self::Error> {
        evalexpr::build_operator_tree(text)
    }
}

/// Why an expression gave no number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluateError {
    /// The expression as written does not parse (`rigor check` reports it first).
    #[error("invalid expression: {0}")]
    Invalid(EvalexprError<DefaultNumericTypes>),
    /// Evaluating it failed (a variable without a value, a division of incompatible types).
    #[error("{0}")]
    Failed(EvalexprError<DefaultNumericTypes>),
    /// It gave something other than a number.
    #[error("the expression gave {0}, not a number")]
    NotANumber(String),
}

impl Expression {
    /// The parsed expression, or why it does not parse.
    pub fn tree(&self) -> Result<&Node<DefaultNumericTypes>, &EvalexprError<DefaultNumericTypes>> {
        self.parsed()
    }

    /// The variables the expression uses; none if it does not parse.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.tree()
            .ok()
            .into_iter()
            .flat_map(|tree| tree.iter_variable_identifiers())
    }

    /// The expression's value with `values` for its variables.
    pub fn evaluate(&self, values: &BTreeMap<String, f64>) -> Result<f64, EvaluateError> {
        use evalexpr::{ContextWithMutableVariables, HashMapContext, Value};
        let tree = self.tree().map_err(|e| EvaluateError::Invalid(e.clone()))?;
        let mut ctx = HashMapContext::<DefaultNumericTypes>::new();
        for (k, v) in values {
            ctx.set_value(k.clone(), Value::Float(*v))
                .map_err(EvaluateError::Failed)?;
        }
        match tree
            .eval_with_context(&ctx)
            .map_err(EvaluateError::Failed)?
        {
            Value::Float(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(EvaluateError::NotANumber(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_expression_is_parsed_once_and_evaluated_with_its_variables() {
        let e = Expression::new("raw * 0.0625");
        let copy = e.clone();
        let a: *const Node = e.tree().unwrap();
        let b: *const Node = copy.tree().unwrap();
        assert_eq!(a, b);
        assert_eq!(e.variables().collect::<Vec<_>>(), ["raw"]);
        let values = [("raw".to_owned(), 80.0)].into();
        assert_eq!(e.evaluate(&values).unwrap(), 5.0);
    }

    #[test]
    fn an_invalid_expression_says_so_when_evaluated() {
        let e = Expression::new("raw * (");
        assert!(e.tree().is_err());
        assert_eq!(e.variables().count(), 0);
        assert!(matches!(
            e.evaluate(&BTreeMap::new()),
            Err(EvaluateError::Invalid(_))
        ));
    }
}
