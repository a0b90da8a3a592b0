//! What an image puts where: ELF load segments, Intel HEX records, or a binary at a base address.

use object::{Object, ObjectSegment};
use rigor_hal::{FirmwareImage, ImageFormat};

use crate::error::GdbError;

/// A contiguous run of bytes to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where it goes.
    pub address: u64,
    /// What goes there.
    pub data: Vec<u8>,
}

/// The segments of `image`, in address order, adjacent ones merged.
pub fn segments(image: &FirmwareImage) -> Result<Vec<Segment>, GdbError> {
    let bad = |reason: String| GdbError::Image {
        image: image.name.clone(),
        reason,
    };
    let mut out = match image.format {
        ImageFormat::Elf => {
            let file = object::File::parse(&*image.bytes)
                .map_err(|e| bad(format!("not an ELF file: {e}")))?;
            let mut out = Vec::new();
            // Load segments with file contents go to their load (physical) address: an image
            // linked to run from RAM is still stored in flash.
            for segment in file.segments() {
                let data = segment
                    .data()
                    .map_err(|e| bad(format!("a load segment cannot be read: {e}")))?;
                if data.is_empty() {
                    continue;
                }
                let address = load_address(&file, &segment).unwrap_or(segment.address());
                out.push(Segment {
                    address,
                    data: data.to_vec(),
                });
            }
            out
        }
        ImageFormat::Hex => {
            let text = std::str::from_utf8(&image.bytes)
                .map_err(|_| bad("an Intel HEX file must be text".into()))?;
            hex_segments(text).map_err(bad)?
        }
        ImageFormat::Bin => {
            let address = image.base_address.ok_or_else(|| {
                bad("a raw binary needs a base address (the profile's flash base-address)".into())
            })?;
            vec![Segment {
                address,
                data: image.bytes.to_vec(),
            }]
        }
    };
    if out.is_empty() {
        return Err(bad("it has nothing to load".into()));
    }
    out.sort_by_key(|s| s.address);
    Ok(merge(out))
}

/// The physical address of an ELF program header, which `object` does not expose directly.
fn load_address(file: &object::File<'_>, segment: &object::Segment<'_, '_>) -> Option<u64> {
    use object::read::elf::ProgramHeader;
    let (offset, _) = segment.file_range();
    match file {
        object::File::Elf32(elf) => elf
            .elf_program_headers()
            .iter()
            .find(|p| u64::from(p.p_offset(elf.endian())) == offset && p.p_filesz(elf.endian()) > 0)
            .map(|p| u64::from(p.p_paddr(elf.endian()))),
        object::File::Elf64(elf) => elf
            .elf_program_headers()
            .iter()
            .find(|p| p.p_offset(elf.endian()) == offset && p.p_filesz(elf.endian()) > 0)
            .map(|p| p.p_paddr(elf.endian())),
        _ => None,
    }
}

fn hex_segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut out: Vec<Segment> = Vec::new();
    let mut base: u64 = 0;
    for (line, record) in ihex::Reader::new(text).enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", line + 1))?;
        match record {
            ihex::Record::Data { offset, value } => out.push(Segment {
                address: base + u64::from(offset),
                data: value,
            }),
            ihex::Record::ExtendedSegmentAddress(s) => base = u64::from(s) << 4,
            ihex::Record::ExtendedLinearAddress(a) => base = u64::from(a) << 16,
            ihex::Record::EndOfFile => break,
            ihex::Record::StartSegmentAddress { .. } | ihex::Record::StartLinearAddress(_) => {}
        }
    }
    Ok(out)
}

fn merge(sorted: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(last) if last.address + last.data.len() as u64 == s.address => {
                last.data.extend_from_slice(&s.data);
            }
            _ => out.push(s),
        }
    }
    out
}
