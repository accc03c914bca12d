//! The tests' S3 server ([`kforge_testkit::s3::Server`]) as a program, for
//! the benchmarks: `kforge-test-s3 --port PORT --access-key KEY
//! --secret-key SECRET ROOT` serves the buckets under ROOT on
//! 127.0.0.1:PORT until it is killed.

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut port, mut access, mut secret, mut root) = (None, None, None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse::<u16>().ok()),
            "--access-key" => access = args.next(),
            "--secret-key" => secret = args.next(),
            _ if !a.starts_with('-') => root = Some(std::path::PathBuf::from(a)),
            _ => usage(),
        }
    }
    let (Some(port), Some(access), Some(secret), Some(root)) = (port, access, secret, root) else {
        usage()
    };
    match kforge_testkit::s3::Server::serve(&root, ("127.0.0.1", port), (&access, &secret)) {
        Ok(server) => server.wait(),
        Err(e) => {
            eprintln!(
                "kforge-test-s3: cannot serve {} on port {port}: {e}",
                root.display()
            );
            std::process::exit(1);
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: kforge-test-s3 --port PORT --access-key KEY --secret-key SECRET ROOT");
    std::process::exit(2);
}
