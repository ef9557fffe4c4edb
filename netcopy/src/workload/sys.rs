//! The four data calls as the raw syscalls glibc's wrappers make (`send` is `sendto` with no
//! address, `recv` is `recvfrom`), without the wrappers' cancellation-point bookkeeping:
//! netcopy never cancels a thread. Each returns what the kernel did, -1 with errno set.

use std::os::fd::RawFd;

/// `send(2)` of `len` bytes at `buf`.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[inline]
pub unsafe fn send(fd: RawFd, buf: *const u8, len: usize, flags: i32) -> isize {
    let none = std::ptr::null::<libc::sockaddr>();
    // SAFETY: the caller's promise; no address.
    unsafe { libc::syscall(libc::SYS_sendto, fd, buf, len, flags, none, 0) as isize }
}

/// `recv(2)` of up to `len` bytes into `buf`.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[inline]
pub unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize, flags: i32) -> isize {
    let none = std::ptr::null_mut::<libc::sockaddr>();
    // SAFETY: the caller's promise; no address wanted back.
    unsafe { libc::syscall(libc::SYS_recvfrom, fd, buf, len, flags, none, none) as isize }
}

/// `sendmsg(2)`.
///
/// # Safety
/// `msg` must describe readable buffers.
#[inline]
pub unsafe fn sendmsg(fd: RawFd, msg: &libc::msghdr, flags: i32) -> isize {
    // SAFETY: the caller's promise.
    unsafe { libc::syscall(libc::SYS_sendmsg, fd, msg, flags) as isize }
}

/// `recvmsg(2)`.
///
/// # Safety
/// `msg` must describe writable buffers.
#[inline]
pub unsafe fn recvmsg(fd: RawFd, msg: &mut libc::msghdr, flags: i32) -> isize {
    // SAFETY: the caller's promise.
    unsafe { libc::syscall(libc::SYS_recvmsg, fd, msg, flags) as isize }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd,
    };

    use super::*;

    #[test]
    fn the_raw_calls_move_bytes_and_report_errors() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (mut b, _) = l.accept().expect("accept");
        let fd = a.as_raw_fd();
        // SAFETY: a live 5-byte buffer.
        assert_eq!(unsafe { send(fd, b"hello".as_ptr(), 5, 0) }, 5);
        let mut got = [0u8; 5];
        b.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hello");
        b.write_all(b"abc").expect("write");
        let mut buf = [0u8; 8];
        // SAFETY: a live 8-byte buffer.
        assert_eq!(unsafe { recv(fd, buf.as_mut_ptr(), 8, 0) }, 3);
        assert_eq!(&buf[..3], b"abc");
        // SAFETY: a live buffer; -1 is not a descriptor.
        assert_eq!(unsafe { send(-1, buf.as_ptr(), 1, 0) }, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
