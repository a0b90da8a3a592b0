//! An instrument's answer checked against what was asked. tokio-modbus's `Reader` and `Writer`
//! methods only `debug_assert` an answer's shape: an instrument that answers one register where
//! two were asked, or echoes another value to a write, panics a debug build and, in a release
//! build, hands back a short vector (decoded as zeros) or a write it did not make, with no error.
//! So rigor sends its requests through `Client::call` and checks the answer here. Found by the
//! `modbus_rtu` fuzz target.

use tokio_modbus::{Request, Response};

/// A checked answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Coils or discrete inputs, exactly as many as asked.
    Bits(Vec<bool>),
    /// Registers, exactly as many as asked.
    Words(Vec<u16>),
    /// A write, echoed as it was asked.
    Written,
}

/// `response` as the answer to `request`, or why it is not one.
pub(crate) fn check(request: &Request<'_>, response: Response) -> Result<Answer, String> {
    use Request as Q;
    use Response as A;
    let bits = |got: Vec<bool>, asked: u16| {
        // Bits come in whole bytes: up to seven past the count are padding.
        if got.len() < usize::from(asked) {
            return Err(format!(
                "the instrument answered {} of the {asked} bits asked",
                got.len()
            ));
        }
        let mut got = got;
        got.truncate(usize::from(asked));
        Ok(Answer::Bits(got))
    };
    let words = |got: Vec<u16>, asked: u16| {
        if got.len() != usize::from(asked) {
            return Err(format!(
                "the instrument answered {} of the {asked} registers asked",
                got.len()
            ));
        }
        Ok(Answer::Words(got))
    };
    let echo = |same: bool, response: &A| {
        if same {
            Ok(Answer::Written)
        } else {
            Err(format!(
                "the instrument echoed {response:?} to the write {request:?}"
            ))
        }
    };
    match (request, response) {
        (Q::ReadCoils(_, n), A::ReadCoils(got))
        | (Q::ReadDiscreteInputs(_, n), A::ReadDiscreteInputs(got)) => bits(got, *n),
        (Q::ReadHoldingRegisters(_, n), A::ReadHoldingRegisters(got))
        | (Q::ReadInputRegisters(_, n), A::ReadInputRegisters(got)) => words(got, *n),
        (Q::WriteSingleCoil(a, v), r @ A::WriteSingleCoil(ra, rv)) => {
            echo((a, v) == (&ra, &rv), &r)
        }
        (Q::WriteSingleRegister(a, v), r @ A::WriteSingleRegister(ra, rv)) => {
            echo((a, v) == (&ra, &rv), &r)
        }
        (Q::WriteMultipleCoils(a, v), r @ A::WriteMultipleCoils(ra, rn)) => {
            echo(*a == ra && v.len() == usize::from(rn), &r)
        }
        (Q::WriteMultipleRegisters(a, v), r @ A::WriteMultipleRegisters(ra, rn)) => {
            echo(*a == ra && v.len() == usize::from(rn), &r)
        }
        (_, response) => Err(format!(
            "the instrument answered {response:?} to {request:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by the `modbus_rtu` fuzz target): a short answer to a read panicked in
    /// tokio-modbus's debug assertion, and in a release build decoded as zeros.
    #[test]
    fn a_short_or_wrong_answer_is_an_error_not_a_zero() {
        let ask = Request::ReadHoldingRegisters(0, 2);
        assert_eq!(
            check(&ask, Response::ReadHoldingRegisters(vec![7])),
            Err("the instrument answered 1 of the 2 registers asked".to_owned())
        );
        assert_eq!(
            check(&ask, Response::ReadHoldingRegisters(vec![7, 8])),
            Ok(Answer::Words(vec![7, 8]))
        );
        let coil = Request::ReadCoils(3, 1);
        assert!(check(&coil, Response::ReadCoils(Vec::new())).is_err());
        assert_eq!(
            check(&coil, Response::ReadCoils(vec![true, false, false])),
            Ok(Answer::Bits(vec![true]))
        );
        let write = Request::WriteSingleRegister(9, 1234);
        assert_eq!(
            check(&write, Response::WriteSingleRegister(9, 1234)),
            Ok(Answer::Written)
        );
        assert!(check(&write, Response::WriteSingleRegister(9, 0)).is_err());
    }
}
