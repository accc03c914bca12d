//! Boots a kernel with a test script: `cargo run -p kforge-boot --example boot --
//! KERNEL SCRIPT [APPEND]`; prints the outcome.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kernel, script, rest @ ..] = &args[..] else {
        eprintln!("usage: boot KERNEL SCRIPT [APPEND]");
        std::process::exit(2);
    };
    let arch = kforge_boot::Arch::X86_64;
    let plan = kforge_boot::GuestPlan::new(script.clone());
    let dir = std::env::temp_dir().join(format!("vmtest-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = kforge_boot::guest::test_initramfs(&kforge_boot::find_busybox(arch).unwrap(), &plan)
        .unwrap();
    let initrd = dir.join("initrd");
    img.write_file(&initrd, kforge_boot::Compression::None)
        .unwrap();
    let mut o = kforge_boot::RunOptions::new(arch, kernel, &initrd, dir.join("console.log"));
    o.append = rest.join(" ");
    o.verbose = std::env::var_os("VERBOSE").is_some();
    if std::env::var_os("NOKVM").is_some() {
        o.kvm = kforge_boot::KvmMode::Off;
    }
    let out = kforge_boot::run(&o, &plan.nonce).unwrap();
    println!("{out:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
