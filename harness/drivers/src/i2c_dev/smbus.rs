//! What an adapter can do (`I2C_FUNCS`), and the SMBus transfer that carries a register access
//! on an adapter that cannot do plain I²C transfers.
//!
//! Each SMBus transfer chosen here puts the same bytes on the wire as the plain I²C transaction
//! it replaces (a write of the register number, a repeated start, the read), so a device cannot
//! tell them apart. One byte goes as "byte data"; more as "I²C block", which carries any length up
//! to 32; an adapter without I²C block transfers (some PC SMBus controllers) gets two bytes as
//! "word data", whose little-endian word is the wire's byte order. Block before word matters where
//! the two are not the same thing: i2c-stub keeps a word in one register and a block's bytes in
//! consecutive ones, as an EEPROM does.

/// The adapter's functionality bits, from `I2C_FUNCS` (`linux/i2c.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Funcs(pub u64);

impl Funcs {
    /// Plain I²C transfers (`I2C_RDWR`).
    pub const I2C: u64 = 0x0000_0001;
    /// SMBus quick command.
    pub const QUICK: u64 = 0x0001_0000;
    /// SMBus receive byte.
    pub const READ_BYTE: u64 = 0x0002_0000;
    /// SMBus send byte.
    pub const WRITE_BYTE: u64 = 0x0004_0000;
    /// SMBus read byte data.
    pub const READ_BYTE_DATA: u64 = 0x0008_0000;
    /// SMBus write byte data.
    pub const WRITE_BYTE_DATA: u64 = 0x0010_0000;
    /// SMBus read word data.
    pub const READ_WORD_DATA: u64 = 0x0020_0000;
    /// SMBus write word data.
    pub const WRITE_WORD_DATA: u64 = 0x0040_0000;
    /// I²C block read (a register, then up to 32 bytes).
    pub const READ_I2C_BLOCK: u64 = 0x0400_0000;
    /// I²C block write (a register, then up to 32 bytes).
    pub const WRITE_I2C_BLOCK: u64 = 0x0800_0000;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u64) -> bool {
        self.0 & bits == bits
    }
}

/// The most data bytes one SMBus block transfer carries.
pub const BLOCK_MAX: usize = 32;

/// One SMBus transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Quick command (write bit 0): only the address, acknowledged or not.
    Quick,
    /// Receive one byte, no register.
    ReadByte,
    /// Send one byte (sets a pointer register).
    WriteByte(u8),
    /// Read the byte of a register.
    ReadByteData(u8),
    /// Write the byte of a register.
    WriteByteData(u8, u8),
    /// Read two bytes of a register; the word's low byte came first on the wire.
    ReadWordData(u8),
    /// Write two bytes to a register; the word's low byte goes first on the wire.
    WriteWordData(u8, u16),
    /// Read this many bytes from a register on.
    ReadI2cBlock(u8, u8),
    /// Write these bytes from a register on.
    WriteI2cBlock(u8, Vec<u8>),
}

/// Why a transaction has no SMBus equivalent on this adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoEquivalent {
    /// SMBus writes one command byte before a read; the transaction writes more.
    #[error("a write of {0} bytes before a read needs plain I²C transfers")]
    LongWriteBeforeRead(usize),
    /// SMBus reads at most a block.
    #[error("a read of {0} bytes is more than one SMBus block ({BLOCK_MAX})")]
    LongRead(usize),
    /// SMBus writes at most a command byte and a block.
    #[error("a write of {0} bytes is more than a register and one SMBus block ({BLOCK_MAX})")]
    LongWrite(usize),
    /// SMBus reads several bytes only from a register.
    #[error("a read of {0} bytes without a register needs plain I²C transfers")]
    ReadWithoutRegister(usize),
    /// The adapter lacks the SMBus transfer this needs.
    #[error("the adapter does not do SMBus {0}")]
    Missing(&'static str),
}

/// The SMBus transfer for "write `write`, then read `read_len` bytes" on an adapter with `funcs`.
pub fn op(funcs: Funcs, write: &[u8], read_len: usize) -> Result<Op, NoEquivalent> {
    let need = |bits: u64, name: &'static str, op: Op| {
        if funcs.has(bits) {
            Ok(op)
        } else {
            Err(NoEquivalent::Missing(name))
        }
    };
    match (write, read_len) {
        ([], 0) => need(Funcs::QUICK, "quick", Op::Quick),
        ([], 1) => need(Funcs::READ_BYTE, "receive byte", Op::ReadByte),
        ([], n) => Err(NoEquivalent::ReadWithoutRegister(n)),
        ([b], 0) => need(Funcs::WRITE_BYTE, "send byte", Op::WriteByte(*b)),
        ([reg], 1) if funcs.has(Funcs::READ_BYTE_DATA) => Ok(Op::ReadByteData(*reg)),
        ([_], n) if n > BLOCK_MAX => Err(NoEquivalent::LongRead(n)),
        ([reg], 2) if !funcs.has(Funcs::READ_I2C_BLOCK) && funcs.has(Funcs::READ_WORD_DATA) => {
            Ok(Op::ReadWordData(*reg))
        }
        ([reg], n) => need(
            Funcs::READ_I2C_BLOCK,
            "I²C block read",
            Op::ReadI2cBlock(*reg, n as u8),
        ),
        (w, 0) if w.len() > BLOCK_MAX + 1 => Err(NoEquivalent::LongWrite(w.len())),
        ([reg, v], 0) if funcs.has(Funcs::WRITE_BYTE_DATA) => Ok(Op::WriteByteData(*reg, *v)),
        ([reg, lo, hi], 0)
            if !funcs.has(Funcs::WRITE_I2C_BLOCK) && funcs.has(Funcs::WRITE_WORD_DATA) =>
        {
            Ok(Op::WriteWordData(*reg, u16::from_le_bytes([*lo, *hi])))
        }
        ([reg, data @ ..], 0) => need(
            Funcs::WRITE_I2C_BLOCK,
            "I²C block write",
            Op::WriteI2cBlock(*reg, data.to_vec()),
        ),
        (w, _) => Err(NoEquivalent::LongWriteBeforeRead(w.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What i2c-stub offers: SMBus quick, byte, byte data, word data, I²C block; no plain I²C.
    const STUB: Funcs = Funcs(
        Funcs::QUICK
            | Funcs::READ_BYTE
            | Funcs::WRITE_BYTE
            | Funcs::READ_BYTE_DATA
            | Funcs::WRITE_BYTE_DATA
            | Funcs::READ_WORD_DATA
            | Funcs::WRITE_WORD_DATA
            | Funcs::READ_I2C_BLOCK
            | Funcs::WRITE_I2C_BLOCK,
    );

    #[test]
    fn register_accesses_map_to_the_smbus_transfer_of_their_length() {
        assert_eq!(op(STUB, &[0x01], 1), Ok(Op::ReadByteData(0x01)));
        assert_eq!(op(STUB, &[0x00], 2), Ok(Op::ReadI2cBlock(0x00, 2)));
        assert_eq!(op(STUB, &[0x00], 16), Ok(Op::ReadI2cBlock(0x00, 16)));
        assert_eq!(
            op(STUB, &[0x10, 0xab], 0),
            Ok(Op::WriteByteData(0x10, 0xab))
        );
        assert_eq!(
            op(STUB, &[0x01, 0x12, 0x34], 0),
            Ok(Op::WriteI2cBlock(0x01, vec![0x12, 0x34]))
        );
        assert_eq!(
            op(STUB, &[0x00, 1, 2, 3], 0),
            Ok(Op::WriteI2cBlock(0x00, vec![1, 2, 3]))
        );
        assert_eq!(op(STUB, &[0x07], 0), Ok(Op::WriteByte(0x07)));
        assert_eq!(op(STUB, &[], 1), Ok(Op::ReadByte));
        assert_eq!(op(STUB, &[], 0), Ok(Op::Quick));
    }

    #[test]
    fn an_adapter_without_i2c_blocks_moves_two_bytes_as_a_word() {
        let words = Funcs(Funcs::READ_WORD_DATA | Funcs::WRITE_WORD_DATA);
        assert_eq!(op(words, &[0x00], 2), Ok(Op::ReadWordData(0x00)));
        // Wire order: register, then 0x12, then 0x34; the word's low byte is sent first.
        assert_eq!(
            op(words, &[0x01, 0x12, 0x34], 0),
            Ok(Op::WriteWordData(0x01, 0x3412))
        );
    }

    #[test]
    fn an_adapter_without_byte_or_word_transfers_uses_i2c_blocks() {
        let blocks = Funcs(Funcs::READ_I2C_BLOCK | Funcs::WRITE_I2C_BLOCK);
        assert_eq!(op(blocks, &[0x01], 1), Ok(Op::ReadI2cBlock(0x01, 1)));
        assert_eq!(op(blocks, &[0x01], 2), Ok(Op::ReadI2cBlock(0x01, 2)));
        assert_eq!(
            op(blocks, &[0x01, 9], 0),
            Ok(Op::WriteI2cBlock(0x01, vec![9]))
        );
    }

    #[test]
    fn transactions_smbus_cannot_carry_say_why() {
        let cases: [(&[u8], usize, &str); 5] = [
            (
                &[0x00, 0x10],
                4,
                "a write of 2 bytes before a read needs plain I²C transfers",
            ),
            (
                &[0x00],
                33,
                "a read of 33 bytes is more than one SMBus block (32)",
            ),
            (
                &[],
                4,
                "a read of 4 bytes without a register needs plain I²C transfers",
            ),
            (
                &[0; 34],
                0,
                "a write of 34 bytes is more than a register and one SMBus block (32)",
            ),
            (&[0x00], 8, "the adapter does not do SMBus I²C block read"),
        ];
        let words = Funcs(Funcs::READ_WORD_DATA | Funcs::READ_BYTE_DATA);
        for (write, read, text) in cases {
            let funcs = if text.contains("does not do") {
                words
            } else {
                STUB
            };
            assert_eq!(op(funcs, write, read).unwrap_err().to_string(), text);
        }
    }
}
