//! Instrument models: the register map of a Modbus instrument (power supply, meter, relay board,
//! PLC), with scaling and units, as written in `rigs/instruments/*.yaml`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::unit::Unit;

/// A Modbus instrument's register map.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor instrument model")]
pub struct InstrumentModel {
    /// The model's id, unique among instrument models (e.g. `riden-rd6006`).
    pub instrument_model: String,
    /// Maker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// What it is, and where the register map comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What kind of instrument it is.
    pub kind: InstrumentKind,
    /// Word order of 32-bit values split over two registers.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Channels, by name.
    pub channels: BTreeMap<String, Channel>,
}

/// Kinds of instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentKind {
    /// Programmable power supply.
    PowerSupply,
    /// Multimeter or power meter.
    Meter,
    /// Relay board.
    RelayBoard,
    /// Digital I/O module.
    IoModule,
    /// Programmable logic controller (fixture handshakes).
    Plc,
    /// What an emulated board's sensors measure (a climate chamber for emulated devices).
    Environment,
}

/// Word order of 32-bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WordOrder {
    /// High word at the lower address.
    #[default]
    HighFirst,
    /// Low word at the lower address.
    LowFirst,
}

/// A Modbus table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Table {
    /// Holding registers (read/write words).
    Holding,
    /// Input registers (read-only words).
    Input,
    /// Coils (read/write bits).
    Coil,
    /// Discrete inputs (read-only bits).
    Discrete,
}

/// How a channel's raw data is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DataType {
    /// One bit, or a register that is zero or not.
    Bool,
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit over two registers.
    U32,
    /// Signed 32-bit over two registers.
    I32,
    /// IEEE-754 single over two registers.
    F32,
}

/// One channel of an instrument: where it lives and how its raw value becomes a quantity.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Channel {
    /// The Modbus table.
    pub table: Table,
    /// Address in the table (zero-based protocol address).
    pub address: u16,
    /// Raw data type.
    #[serde(rename = "type", default = "u16_type")]
    pub data_type: DataType,
    /// Value = raw × scale + offset.
    #[serde(default = "unit_scale")]
    pub scale: f64,
    /// Value = raw × scale + offset.
    #[serde(default)]
    pub offset: f64,
    /// The unit of the scaled value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Whether rigor may write it.
    #[serde(default)]
    pub writable: bool,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn u16_type() -> DataType {
    DataType::U16
}

fn unit_scale() -> f64 {
    1.0
}

impl Channel {
    /// True when the channel holds a bit (coil, discrete input, or a boolean register).
    pub fn is_bool(&self) -> bool {
        matches!(self.table, Table::Coil | Table::Discrete) || self.data_type == DataType::Bool
    }
}
