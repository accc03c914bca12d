//! Boots a kernel with a test script: `cargo run -p vmtest --example boot --
//! KERNEL SCRIPT [APPEND]`; prints the outcome.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kernel, script, rest @ ..] = &args[..] else {
        eprintln!("usage: boot KERNEL SCRIPT [APPEND]");
        std::process::exit(2);
    };
    let arch = vmtest::Arch::X86_64;
    let plan = vmtest::GuestPlan::new(script.clone());
    let dir = std::env::temp_dir().join(format!("vmtest-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = vmtest::guest::test_initramfs(&vmtest::find_busybox(arch).unwrap(), &plan).unwrap();
    let initrd = dir.join("initrd");
    img.write_file(&initrd, vmtest::Compression::None).unwrap();
    let mut o = vmtest::RunOptions::new(arch, kernel, &initrd, dir.join("console.log"));
    o.append = rest.join(" ");
    o.verbose = std::env::var_os("VERBOSE").is_some();
    if std::env::var_os("NOKVM").is_some() {
        o.kvm = vmtest::KvmMode::Off;
    }
    let out = vmtest::run(&o, &plan.nonce).unwrap();
    println!("{out:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
