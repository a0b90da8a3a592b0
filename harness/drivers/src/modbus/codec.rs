//! Registers ↔ values: a channel's type, scale, offset and the model's word order turn raw words
//! into a quantity in the channel's unit and back. Shared by every transport: TCP and RTU carry
//! the same registers.

use rigor_hal::Reading;
use rigor_model::instrument::{Channel, DataType, WordOrder};

/// How many registers a value of type `t` spans.
pub(crate) fn words(t: DataType) -> u16 {
    match t {
        DataType::Bool | DataType::U16 | DataType::I16 => 1,
        DataType::U32 | DataType::I32 | DataType::F32 => 2,
    }
}

/// Raw registers → value, per the channel's type, scale and offset.
pub fn decode(ch: &Channel, order: WordOrder, regs: &[u16]) -> Reading {
    let pair = || {
        let (hi, lo) = match order {
            WordOrder::HighFirst => (
                regs.first().copied().unwrap_or(0),
                regs.get(1).copied().unwrap_or(0),
            ),
            WordOrder::LowFirst => (
                regs.get(1).copied().unwrap_or(0),
                regs.first().copied().unwrap_or(0),
            ),
        };
        (u32::from(hi) << 16) | u32::from(lo)
    };
    let first = regs.first().copied().unwrap_or(0);
    let raw = match ch.data_type {
        DataType::Bool => return Reading::Bool(first != 0),
        DataType::U16 => f64::from(first),
        DataType::I16 => f64::from(first as i16),
        DataType::U32 => f64::from(pair()),
        DataType::I32 => f64::from(pair() as i32),
        DataType::F32 => f64::from(f32::from_bits(pair())),
    };
    Reading::Number(scaled(raw, ch.scale) + ch.offset)
}

/// `raw × scale`, correctly rounded for the decimal scales instruments publish (0.01 V, 0.001 A):
/// 72 counts of 1 mA read 0.072 A, not 0.07200000000000001.
fn scaled(raw: f64, scale: f64) -> f64 {
    let per_unit = 1.0 / scale;
    if per_unit.abs() >= 1.0 && (per_unit - per_unit.round()).abs() < 1e-9 {
        raw / per_unit.round()
    } else {
        raw * scale
    }
}

/// Value → raw registers, or why it does not fit.
pub fn encode(ch: &Channel, order: WordOrder, value: Reading) -> Result<Vec<u16>, String> {
    let n = match (ch.data_type, value) {
        (DataType::Bool, Reading::Bool(b)) => return Ok(vec![u16::from(b)]),
        (DataType::Bool, Reading::Number(n)) => return Ok(vec![u16::from(n != 0.0)]),
        (_, Reading::Bool(b)) => f64::from(u8::from(b)),
        (_, Reading::Number(n)) => n,
    };
    let raw = (n - ch.offset) / ch.scale;
    let split = |v: u32| {
        let (hi, lo) = ((v >> 16) as u16, v as u16);
        match order {
            WordOrder::HighFirst => vec![hi, lo],
            WordOrder::LowFirst => vec![lo, hi],
        }
    };
    let out_of_range = || format!("{n} does not fit the channel's {:?} register", ch.data_type);
    let r = raw.round();
    match ch.data_type {
        DataType::U16 if (0.0..=f64::from(u16::MAX)).contains(&r) => Ok(vec![r as u16]),
        DataType::I16 if (f64::from(i16::MIN)..=f64::from(i16::MAX)).contains(&r) => {
            Ok(vec![r as i16 as u16])
        }
        DataType::U32 if (0.0..=f64::from(u32::MAX)).contains(&r) => Ok(split(r as u32)),
        DataType::I32 if (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&r) => {
            Ok(split(r as i32 as u32))
        }
        DataType::F32 => Ok(split((raw as f32).to_bits())),
        _ => Err(out_of_range()),
    }
}
