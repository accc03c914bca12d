//! Opening module files: plain, or compressed with zstd, xz or gzip.
//!
//! Like kmod, the compression is told by the file's first bytes, not by its
//! name, and a file shorter than six bytes is refused. A plain file is read
//! lazily (only the ELF headers and the few sections a module reader needs
//! are read from disk); a compressed one is decompressed into memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `errno` values used to report failures the way kmod does.
pub mod errno {
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// Exec format error (not an ELF file).
    pub const ENOEXEC: i32 = 8;
    /// Cannot allocate memory.
    pub const ENOMEM: i32 = 12;
    /// Invalid argument (a malformed file).
    pub const EINVAL: i32 = 22;

    /// glibc's `strerror` text for the codes this crate produces.
    pub fn strerror(e: i32) -> String {
        match e {
            ENOENT => "No such file or directory".into(),
            ENOEXEC => "Exec format error".into(),
            ENOMEM => "Cannot allocate memory".into(),
            EINVAL => "Invalid argument".into(),
            _ => {
                let s = std::io::Error::from_raw_os_error(e).to_string();
                match s.rfind(" (os error ") {
                    Some(i) => s[..i].to_string(),
                    None => s,
                }
            }
        }
    }
}

/// How a module file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain ELF file (or anything without a known magic).
    None,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// gzip (`1f 8b`).
    Gzip,
}

/// A failure to open or decompress a module file, as kmod reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    /// The `errno` kmod would return.
    pub errno: i32,
    /// Messages libkmod logs on the way (for example `xz: File is corrupt`).
    pub messages: Vec<String>,
}

impl OpenError {
    fn new(errno: i32) -> Self {
        OpenError {
            errno,
            messages: Vec::new(),
        }
    }
    fn io(e: &io::Error) -> Self {
        OpenError::new(e.raw_os_error().unwrap_or(errno::EINVAL))
    }
    fn msg(errno: i32, m: impl Into<String>) -> Self {
        OpenError {
            errno,
            messages: vec![m.into()],
        }
    }
}

/// The bytes of a module's (decompressed) ELF image.
pub enum Image {
    /// Decompressed into memory (or handed in by the caller).
    Memory(Vec<u8>),
    /// A plain file, read on demand.
    File {
        /// The open file.
        file: File,
        /// Its size.
        len: u64,
        /// Its first bytes (up to 64: the ELF header).
        head: Vec<u8>,
    },
}

impl Image {
    /// Size of the image in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Image::Memory(v) => v.len() as u64,
            Image::File { len, .. } => *len,
        }
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` bytes at `off`; the caller has checked the range is inside
    /// the image.
    pub fn read(&self, off: u64, len: u64) -> io::Result<Cow<'_, [u8]>> {
        let end = off
            .checked_add(len)
            .filter(|&e| e <= self.len())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the module",
                )
            })?;
        match self {
            Image::Memory(v) => Ok(Cow::Borrowed(&v[off as usize..end as usize])),
            Image::File { head, .. } if end as usize <= head.len() => {
                Ok(Cow::Borrowed(&head[off as usize..end as usize]))
            }
            Image::File { file, .. } => {
                let mut buf = vec![0; len as usize];
                file.read_exact_at(&mut buf, off)?;
                Ok(Cow::Owned(buf))
            }
        }
    }
}

/// Tell the compression of a file from its first six bytes.
pub fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Open a module file as kmod's `kmod_file_open` does.
pub fn open(path: &Path) -> Result<(Image, Compression), OpenError> {
    let mut file = File::open(path).map_err(|e| OpenError::io(&e))?;
    let mut magic = [0u8; 64];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(OpenError::io(&e)),
        }
    }
    if got < 6 {
        return Err(OpenError::new(errno::EINVAL));
    }
    let comp = detect(&magic);
    if comp == Compression::None {
        let len = file.metadata().map_err(|e| OpenError::io(&e))?.len();
        let head = magic[..got.min(len as usize)].to_vec();
        return Ok((Image::File { file, len, head }, comp));
    }
    let mut data = Vec::new();
    data.extend_from_slice(&magic[..got]);
    file.read_to_end(&mut data).map_err(|e| OpenError::io(&e))?;
    Ok((Image::Memory(decompress(&data, comp)?), comp))
}

/// Decompress a whole module image held in memory (its compression told
/// by [`detect`]); a plain image is returned as it is.
pub fn decompress(data: &[u8], comp: Compression) -> Result<Vec<u8>, OpenError> {
    match comp {
        Compression::None => Ok(data.to_vec()),
        Compression::Xz => unxz(data),
        Compression::Zstd => unzstd(data),
        Compression::Gzip => gunzip(data),
    }
}

fn unxz(input: &[u8]) -> Result<Vec<u8>, OpenError> {
    use xz2::stream::{Action, Error as XzError, Status, Stream, CONCATENATED};
    let mut s = Stream::new_stream_decoder(u64::MAX, CONCATENATED)
        .map_err(|_| OpenError::msg(errno::EINVAL, "xz: Internal error (bug)"))?;
    let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_mul(4).min(1 << 28));
    loop {
        if out.capacity() - out.len() < 1 << 16 {
            out.reserve(out.len().max(1 << 16));
        }
        let pos = s.total_in() as usize;
        let before = (s.total_in(), s.total_out());
        let st = s.process_vec(&input[pos.min(input.len())..], &mut out, Action::Finish);
        match st {
            Ok(Status::StreamEnd) => return Ok(out),
            Ok(Status::Ok) | Ok(Status::GetCheck) => {
                if (s.total_in(), s.total_out()) == before && s.total_in() as usize >= input.len() {
                    return Err(OpenError::msg(errno::EINVAL, "xz: Unexpected end of input"));
                }
            }
            Ok(Status::MemNeeded) => {
                return Err(OpenError::msg(errno::EINVAL, "xz: Unexpected end of input"));
            }
            Err(e) => {
                let m = match e {
                    XzError::Mem | XzError::MemLimit => "xz: Cannot allocate memory",
                    XzError::Format => "xz: File format not recognized",
                    XzError::Options => "xz: Unsupported compression options",
                    XzError::Data => "xz: File is corrupt",
                    _ => "xz: Internal error (bug)",
                };
                return Err(OpenError::msg(errno::EINVAL, m));
            }
        }
    }
}

fn unzstd(input: &[u8]) -> Result<Vec<u8>, OpenError> {
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
    let mut d = Decoder::new().map_err(|_| {
        OpenError::msg(errno::EINVAL, "zstd: Failed to create decompression stream")
    })?;
    let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_mul(4).min(1 << 28));
    let mut inb = InBuffer::around(input);
    // As libkmod: decode until the input is used up; a truncated last frame
    // is not an error (what was decoded so far is the image).
    loop {
        if out.capacity() - out.len() < 1 << 17 {
            out.reserve(out.len().max(1 << 17));
        }
        let len = out.len();
        let cap = out.capacity();
        out.resize(cap, 0);
        let mut ob = OutBuffer::around_pos(&mut out[..], len);
        let r = d.run(&mut inb, &mut ob);
        let written = ob.pos();
        out.truncate(written);
        match r {
            Ok(_) => {
                if inb.pos() >= input.len() && written < cap {
                    return Ok(out);
                }
            }
            Err(e) => return Err(OpenError::msg(errno::EINVAL, format!("zstd: {e}"))),
        }
    }
}

fn gunzip(input: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(1 << 28));
    let mut d = flate2::read::MultiGzDecoder::new(input);
    match d.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(OpenError::msg(errno::EINVAL, format!("gzip: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]), Compression::Zstd);
        assert_eq!(detect(b"\xfd7zXZ\0"), Compression::Xz);
        assert_eq!(detect(b"\x1f\x8b\x08\0\0\0"), Compression::Gzip);
        assert_eq!(detect(b"\x7fELF\x02\x01"), Compression::None);
    }

    #[test]
    fn bad_streams_are_errors() {
        assert!(unxz(b"\xfd7zXZ\0garbage").is_err());
        assert!(unzstd(&[0x28, 0xb5, 0x2f, 0xfd, 0x08, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(gunzip(b"\x1f\x8bxxxxxx").is_err());
        let z = zstd::bulk::compress(b"hello world, hello world", 3).unwrap();
        assert_eq!(unzstd(&z).unwrap(), b"hello world, hello world");
        // truncated: not an error, like libkmod
        assert!(unzstd(&z[..z.len() - 3]).is_ok());
    }
}
