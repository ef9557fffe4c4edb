//! Just enough of a BTF reader to find where a struct member lives in the running kernel.
//!
//! The BTF program of the sched family reads `next->pid` with bpf_probe_read_kernel, so it
//! needs the byte offset of `pid` in `struct task_struct`, which differs between kernel builds.
//! aya keeps its BTF type lookup private, so this walks the type section itself: a header, then
//! types of 12 bytes each followed by kind-specific data (Documentation/bpf/btf.rst).

use thiserror::Error;

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("read {VMLINUX}: {0}")]
    Read(String),
    #[error("not BTF: {0}")]
    Format(&'static str),
    #[error("BTF has no struct {0}")]
    NoStruct(String),
    #[error("struct {strukt} has no member {member}")]
    NoMember { strukt: String, member: String },
    #[error("member {0} is a bitfield")]
    Bitfield(String),
}

/// One parsed type: its kind, name and, for structs and unions, its members.
struct Type<'a> {
    kind: u32,
    name: &'a [u8],
    /// (name, type id, bit offset) of each member.
    members: Vec<(&'a [u8], u32, u32)>,
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(BtfError::Format("truncated"))
}

fn string_at(strings: &[u8], offset: u32) -> Result<&[u8], BtfError> {
    let tail = strings
        .get(offset as usize..)
        .ok_or(BtfError::Format("string offset out of range"))?;
    Ok(tail.split(|&b| b == 0).next().unwrap_or_default())
}

/// Every type of the blob, indexed by type id - 1.
fn types(data: &[u8]) -> Result<Vec<Type<'_>>, BtfError> {
    let magic = data
        .get(..2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(BtfError::Format("truncated"))?;
    if magic != MAGIC {
        return Err(BtfError::Format(
            "bad magic (only little-endian BTF is read)",
        ));
    }
    let hdr_len = u32_at(data, 4)? as usize;
    let (type_off, type_len) = (u32_at(data, 8)? as usize, u32_at(data, 12)? as usize);
    let (str_off, str_len) = (u32_at(data, 16)? as usize, u32_at(data, 20)? as usize);
    let section = |off: usize, len: usize| {
        hdr_len
            .checked_add(off)
            .and_then(|start| Some(start..start.checked_add(len)?))
            .and_then(|range| data.get(range))
            .ok_or(BtfError::Format("section out of range"))
    };
    let (tys, strings) = (section(type_off, type_len)?, section(str_off, str_len)?);
    let mut out = Vec::new();
    let mut at = 0;
    while at < tys.len() {
        let (name_off, info) = (u32_at(tys, at)?, u32_at(tys, at + 4)?);
        let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, info & 0xffff, info >> 31);
        at += 12;
        let mut members = Vec::new();
        let trailing = match kind {
            1 | 14 | 17 => 4, // int, var, decl_tag
            3 => 12,          // array
            KIND_STRUCT | KIND_UNION => {
                for m in 0..vlen as usize {
                    let base = at + m * 12;
                    let offset = u32_at(tys, base + 8)?;
                    members.push((
                        string_at(strings, u32_at(tys, base)?)?,
                        u32_at(tys, base + 4)?,
                        // With kind_flag the low 24 bits are the offset, the rest a bit size.
                        if kind_flag == 1 {
                            offset & 0xff_ffff
                        } else {
                            offset
                        },
                    ));
                }
                vlen as usize * 12
            }
            6 | 13 => vlen as usize * 8,   // enum, func_proto
            15 | 19 => vlen as usize * 12, // datasec, enum64
            2 | 7..=12 | 16 | 18 => 0,     // ptr, fwd, typedef, modifiers, func, float, tag
            _ => return Err(BtfError::Format("unknown type kind")),
        };
        at += trailing;
        out.push(Type {
            kind,
            name: string_at(strings, name_off)?,
            members,
        });
    }
    Ok(out)
}

/// The byte offset of `member` in `struct strukt`, looking through anonymous structs and
/// unions on the way.
pub fn member_offset(data: &[u8], strukt: &str, member: &str) -> Result<u32, BtfError> {
    let all = types(data)?;
    let start = all
        .iter()
        .find(|t| t.kind == KIND_STRUCT && t.name == strukt.as_bytes())
        .ok_or_else(|| BtfError::NoStruct(strukt.to_owned()))?;
    let bits = find(&all, start, member.as_bytes(), 0).ok_or_else(|| BtfError::NoMember {
        strukt: strukt.to_owned(),
        member: member.to_owned(),
    })?;
    if bits % 8 != 0 {
        return Err(BtfError::Bitfield(member.to_owned()));
    }
    Ok(bits / 8)
}

fn find(all: &[Type<'_>], t: &Type<'_>, member: &[u8], depth: u32) -> Option<u32> {
    if depth > 8 {
        return None;
    }
    for &(name, type_id, offset) in &t.members {
        if name == member {
            return Some(offset);
        }
        if name.is_empty() {
            let inner = all.get((type_id as usize).checked_sub(1)?)?;
            if matches!(inner.kind, KIND_STRUCT | KIND_UNION) {
                if let Some(o) = find(all, inner, member, depth + 1) {
                    return o.checked_add(offset);
                }
            }
        }
    }
    None
}

/// The offset of `task_struct.pid` in the running kernel.
pub fn task_pid_offset() -> Result<u32, BtfError> {
    let data = std::fs::read(VMLINUX).map_err(|e| BtfError::Read(e.to_string()))?;
    member_offset(&data, "task_struct", "pid")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob: int (id 1), an anonymous union (id 2) holding `b` at bit 0, and
    /// `struct s { int a; union { int b; }; }` with the union at byte 8.
    fn blob(kind_flag: bool) -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0".to_vec(); // int=1 s=5 a=7 b=9
        let mut tys = Vec::new();
        let mut push = |words: &[u32]| words.iter().for_each(|w| tys.extend(w.to_le_bytes()));
        push(&[1, 1 << 24, 4, 32]); // int, 4 bytes, 32 bits
        push(&[0, (KIND_UNION << 24) | 1, 4, 9, 1, 0]);
        let flag = if kind_flag { 1 << 31 } else { 0 };
        let off = |bits: u32| if kind_flag { bits | (32 << 24) } else { bits };
        push(&[
            5,
            flag | (KIND_STRUCT << 24) | 2,
            12,
            7,
            1,
            off(0),
            0,
            2,
            off(64),
        ]);
        let mut out = Vec::new();
        out.extend(MAGIC.to_le_bytes());
        out.extend([1u8, 0]);
        for w in [
            24u32,
            0,
            tys.len() as u32,
            tys.len() as u32,
            strings.len() as u32,
        ] {
            out.extend(w.to_le_bytes());
        }
        out.extend(tys);
        out.extend(strings);
        out
    }

    #[test]
    fn finds_members_directly_and_through_anonymous_unions() {
        for flag in [false, true] {
            let b = blob(flag);
            assert_eq!(member_offset(&b, "s", "a"), Ok(0));
            assert_eq!(member_offset(&b, "s", "b"), Ok(8));
            assert!(matches!(
                member_offset(&b, "s", "c"),
                Err(BtfError::NoMember { .. })
            ));
            assert_eq!(
                member_offset(&b, "t", "a"),
                Err(BtfError::NoStruct("t".into()))
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let b = blob(false);
        for cut in 0..b.len() {
            let _ = member_offset(&b[..cut], "s", "b");
        }
        assert!(member_offset(b"\x9f\xeb\x01\0\xff\xff\xff\xff", "s", "b").is_err());
        let mut bad = b.clone();
        bad[24 + 7] = 0x7f; // first type's kind byte
        assert_eq!(
            member_offset(&bad, "s", "a"),
            Err(BtfError::Format("unknown type kind"))
        );
    }

    #[test]
    fn the_running_kernel_has_task_struct_pid() {
        if !std::path::Path::new(VMLINUX).exists() {
            eprintln!("skipped: {VMLINUX} is missing (kernel built without BTF)");
            return;
        }
        let offset = task_pid_offset().unwrap();
        // pid sits well inside task_struct, after the scheduler fields, on every kernel.
        assert!(offset > 64 && offset < 16384, "{offset}");
        // bpftool reads the same BTF its own way: the offsets agree.
        let Ok(out) = std::process::Command::new("bpftool")
            .args(["btf", "dump", "file", VMLINUX, "format", "raw"])
            .output()
        else {
            eprintln!("bpftool is missing: offset not cross-checked");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let bits: u32 = text
            .lines()
            .skip_while(|l| !l.contains("STRUCT 'task_struct'"))
            .find(|l| l.trim_start().starts_with("'pid' "))
            .and_then(|l| l.split("bits_offset=").nth(1))
            .and_then(|b| b.trim().parse().ok())
            .unwrap();
        assert_eq!(offset * 8, bits);
    }
}
