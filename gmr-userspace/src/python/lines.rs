//! Line numbers from a code object's line table and a frame's position in
//! its bytecode, for the three encodings CPython used from 3.9 to 3.13
//! (described in each version's `Objects/lnotab_notes.txt` and
//! `InternalDocs/locations.md`).

use super::layout::LineFormat;

/// Line table entries walked at most: more means a corrupt table.
const MAX_ENTRIES: usize = 1 << 20;

/// The line of the instruction at `offset` code units (2 bytes each) into
/// the bytecode, or `None` when the table has no line for it.
pub fn line_for(format: LineFormat, table: &[u8], first_line: i32, offset: u64) -> Option<u32> {
    let line = match format {
        LineFormat::Lnotab => lnotab_line(table, first_line, offset * 2),
        LineFormat::LineTable310 => linetable_310_line(table, first_line, offset * 2),
        LineFormat::Locations => locations_line(table, first_line, offset),
    }?;
    u32::try_from(line).ok().filter(|&line| line > 0)
}

/// 3.9 `co_lnotab`: pairs of (bytecode byte delta, signed line delta).
fn lnotab_line(table: &[u8], first_line: i32, byte_offset: u64) -> Option<i32> {
    let mut line = first_line;
    let mut address = 0u64;
    for pair in table.chunks_exact(2) {
        address += u64::from(pair[0]);
        if address > byte_offset {
            break;
        }
        line += i32::from(pair[1] as i8);
    }
    Some(line)
}

/// 3.10 `co_linetable`: pairs of (byte length, signed line delta), -128
/// marking a range without a line.
fn linetable_310_line(table: &[u8], first_line: i32, byte_offset: u64) -> Option<i32> {
    let mut line = first_line;
    let mut end = 0u64;
    for pair in table.chunks_exact(2) {
        end += u64::from(pair[0]);
        let delta = pair[1] as i8;
        let range_line = (delta != -128).then(|| {
            line += i32::from(delta);
            line
        });
        if end > byte_offset {
            return range_line;
        }
    }
    None
}

/// 3.11+ location table: entries of `1 code:4 length-1:3` then data.
fn locations_line(table: &[u8], first_line: i32, offset: u64) -> Option<i32> {
    let mut reader = Bytes { table, at: 0 };
    let mut line = first_line;
    let mut end = 0u64;
    for _ in 0..MAX_ENTRIES {
        let first = reader.next()?;
        if first & 0x80 == 0 {
            // Every entry starts with its high bit set; this is no table.
            return None;
        }
        let code = (first >> 3) & 0xf;
        end += u64::from(first & 0x7) + 1;
        let entry_line = match code {
            // No location.
            15 => None,
            // Long form: line delta, end line delta, column, end column.
            14 => {
                line += reader.signed_varint()?;
                reader.varint()?;
                reader.varint()?;
                reader.varint()?;
                Some(line)
            }
            // No column: line delta only.
            13 => {
                line += reader.signed_varint()?;
                Some(line)
            }
            // One-line forms: the line delta is in the code; two column bytes.
            10..=12 => {
                line += i32::from(code) - 10;
                reader.next()?;
                reader.next()?;
                Some(line)
            }
            // Short forms: same line; one column byte.
            _ => {
                reader.next()?;
                Some(line)
            }
        };
        if end > offset {
            return entry_line;
        }
    }
    None
}

/// A cursor over a location table.
struct Bytes<'a> {
    table: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.table.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// Six bits per byte, low first; bit 6 says another byte follows.
    fn varint(&mut self) -> Option<u32> {
        let mut byte = self.next()?;
        let mut value = u32::from(byte & 63);
        let mut shift = 0;
        while byte & 64 != 0 {
            byte = self.next()?;
            shift += 6;
            if shift > 30 {
                return None;
            }
            value |= u32::from(byte & 63) << shift;
        }
        Some(value)
    }

    /// A varint whose lowest bit is the sign.
    fn signed_varint(&mut self) -> Option<i32> {
        let value = self.varint()?;
        let magnitude = (value >> 1) as i32;
        Some(if value & 1 != 0 {
            -magnitude
        } else {
            magnitude
        })
    }
}

#[cfg(test)]
mod tests {
    use super::line_for;
    use crate::python::layout::LineFormat;

    #[test]
    fn lnotab_pairs_advance_by_bytes() {
        // Lines 10, 11 (from byte 6), 9 (from byte 10, delta -2).
        let table = [6, 1, 4, 0xfe];
        let line = |units| line_for(LineFormat::Lnotab, &table, 10, units);
        assert_eq!(line(0), Some(10));
        assert_eq!(line(2), Some(10));
        assert_eq!(line(3), Some(11));
        assert_eq!(line(5), Some(9));
        assert_eq!(line(50), Some(9));
    }

    #[test]
    fn linetable_310_ranges_and_missing_lines() {
        // Bytes 0..4 line 5, 4..8 no line, 8..14 line 7.
        let table = [4, 0, 4, 0x80, 6, 2];
        let line = |units| line_for(LineFormat::LineTable310, &table, 5, units);
        assert_eq!(line(0), Some(5));
        assert_eq!(line(1), Some(5));
        assert_eq!(line(2), None);
        assert_eq!(line(4), Some(7));
        assert_eq!(line(6), Some(7));
        assert_eq!(line(7), None, "past the table");
    }

    #[test]
    fn locations_every_entry_form() {
        let table = [
            // Short form (code 0), 1 unit, same line 20.
            0x80,
            0x05,
            // One-line form code 11 (+1 → 21), 2 units, two columns.
            0x80 | (11 << 3) | 1,
            4,
            9,
            // No-column form (code 13), 1 unit, delta -3 (svarint 7) → 18.
            0x80 | (13 << 3),
            7,
            // No location (code 15), 1 unit.
            0x80 | (15 << 3),
            // Long form (code 14), 3 units, delta +70 (svarint 140 = two
            // bytes: 140 & 63 | 64, 140 >> 6), end line, columns → 88.
            0x80 | (14 << 3) | 2,
            12 | 64,
            2,
            0,
            1,
            5,
        ];
        let line = |unit| line_for(LineFormat::Locations, &table, 20, unit);
        assert_eq!(line(0), Some(20));
        assert_eq!(line(1), Some(21));
        assert_eq!(line(2), Some(21));
        assert_eq!(line(3), Some(18));
        assert_eq!(line(4), None);
        assert_eq!(line(5), Some(88));
        assert_eq!(line(7), Some(88));
        assert_eq!(line(8), None, "past the table");
    }

    #[test]
    fn locations_reject_garbage() {
        assert_eq!(line_for(LineFormat::Locations, &[0x05, 0x80], 1, 0), None);
        assert_eq!(
            line_for(LineFormat::Locations, &[0x80 | (13 << 3)], 1, 0),
            None
        );
    }
}
