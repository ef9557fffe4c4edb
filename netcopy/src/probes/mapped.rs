//! An array map read through a mapping of its values (maps created with BPF_F_MMAPABLE), so
//! reading all of its slots costs page-table work once instead of one `bpf()` call per slot.
//!
//! Used for `TOTALS` (`netcopy_common::maps::TOTALS_FLAGS`): `--aggregate`'s 16,384 slots
//! took 16,384 map lookups at every refresh of `netcopy top` and at the end of every
//! `--aggregate` trace.

use std::{marker::PhantomData, num::NonZeroUsize, os::fd::AsFd, ptr::NonNull};

use aya::maps::{MapData, MapError};
use netcopy_common::maps::MMAPABLE;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

/// Why an array's values could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum MappedError {
    #[error("read the map's info: {0}")]
    Info(#[from] MapError),
    #[error("the map is not an array")]
    NotArray,
    #[error("the map was not created with BPF_F_MMAPABLE")]
    NotMappable,
    #[error("the map's values are {kernel} bytes, netcopy's {user}")]
    ValueSize { kernel: u32, user: usize },
    #[error("mmap: {0}")]
    Mmap(#[from] nix::Error),
}

/// The values of an array map of `V`, mapped read-only. The kernel keeps writing them while
/// the programs run, so a slot read during a trace can mix two moments of it (a live view's
/// refresh); after the trace is paused it reads as it stays.
pub struct Mapped<V> {
    base: NonNull<core::ffi::c_void>,
    /// Bytes mapped.
    bytes: usize,
    /// Slots in the array.
    len: usize,
    _values: PhantomData<V>,
}

// SAFETY: the mapping is read-only and lives until drop; reads are volatile copies of plain
// data, the same from any thread.
unsafe impl<V> Send for Mapped<V> {}
// SAFETY: as above: `&Mapped` only reads.
unsafe impl<V> Sync for Mapped<V> {}

/// Bytes from one slot to the next: the kernel rounds an array's values up to 8.
const fn stride<V>() -> usize {
    size_of::<V>().next_multiple_of(8)
}

impl<V: aya::Pod> Mapped<V> {
    /// Map the values of the array `map` of `V`.
    pub fn new(map: &MapData) -> Result<Self, MappedError> {
        // Slots start at multiples of 8 from a page-aligned base.
        const { assert!(align_of::<V>() <= 8) };
        let info = map.info()?;
        if info.map_flags() & MMAPABLE == 0 {
            return Err(MappedError::NotMappable);
        }
        if info.value_size() as usize != size_of::<V>() {
            return Err(MappedError::ValueSize {
                kernel: info.value_size(),
                user: size_of::<V>(),
            });
        }
        let slots = info.max_entries() as usize;
        let len = NonZeroUsize::new(slots * stride::<V>()).ok_or(MappedError::NotMappable)?;
        // SAFETY: a new read-only shared mapping of the map's fd; nothing else is at the
        // address the kernel picks, and `Drop` unmaps exactly this range.
        let base = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ,
                MapFlags::MAP_SHARED,
                map.fd().as_fd(),
                0,
            )
        }?;
        Ok(Self {
            base,
            bytes: len.get(),
            len: slots,
            _values: PhantomData,
        })
    }

    /// Slot `i`'s value as it is now, `None` past the end.
    pub fn get(&self, i: usize) -> Option<V> {
        if i >= self.len {
            return None;
        }
        // SAFETY: `i * stride` is inside the mapping, aligned to 8 (the mapping is
        // page-aligned), and any bytes are a valid `V` (`Pod`).
        Some(unsafe {
            self.base
                .as_ptr()
                .cast::<u8>()
                .add(i * stride::<V>())
                .cast::<V>()
                .read_volatile()
        })
    }

    /// Every slot's value, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = V> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

impl<V> Drop for Mapped<V> {
    fn drop(&mut self) {
        // SAFETY: the range `new` mapped, unmapped once.
        let _ = unsafe { munmap(self.base, self.bytes) };
    }
}
