//! Reading a user's configuration file (`kforge import`, `kforge diff`,
//! `base = { file = ... }`): only regular files, and a bounded amount of
//! text after decompression.

use std::io::Write;

use kforge_resolve::{read_config_file, MAX_CONFIG_BYTES};

#[test]
fn plain_and_compressed_configurations_are_read() {
    let d = tempfile::tempdir().unwrap();
    let text = "CONFIG_A=y\n# CONFIG_B is not set\n";
    let plain = d.path().join("config");
    std::fs::write(&plain, text).unwrap();
    assert_eq!(read_config_file(&plain).unwrap(), text);
    let xz = d.path().join("config.xz");
    let mut w = xz2::write::XzEncoder::new(std::fs::File::create(&xz).unwrap(), 6);
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
    assert_eq!(read_config_file(&xz).unwrap(), text);
}

#[test]
fn devices_fifos_and_directories_are_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let e = read_config_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "it is a character device, not a regular file; a configuration is read from a regular file"
    );
    let fifo = d.path().join("config");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = read_config_file(&fifo).unwrap_err();
    assert!(e.to_string().starts_with("it is a FIFO"), "{e}");
    let e = read_config_file(d.path()).unwrap_err();
    assert!(e.to_string().starts_with("it is a directory"), "{e}");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let bomb = d.path().join("config.xz");
    let mut w = xz2::write::XzEncoder::new(std::fs::File::create(&bomb).unwrap(), 6);
    let zeros = vec![b'#'; 1 << 20];
    for _ in 0..=(MAX_CONFIG_BYTES >> 20) {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let e = read_config_file(&bomb).unwrap_err();
    assert_eq!(
        e.to_string(),
        "it is larger than 16 MiB, the most kforge reads as a configuration"
    );
}
