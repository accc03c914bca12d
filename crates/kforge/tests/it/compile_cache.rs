//! `[build] launcher = "sccache"` with sccache's S3 backend, against a
//! real S3 server (s3s, `kforge_testkit::s3`) on 127.0.0.1: a build fills the bucket; the same
//! build again after its tree, store and build directory were removed and
//! put back at the same place, with another sccache server (a second
//! machine of the same layout), is served from it; each entry's manifest
//! has the counts. (kforge's prefix maps put the tree's and the build
//! directory's paths in every compile command, as the kernel's are, and
//! sccache hashes the command: a machine of another layout misses.)

#![cfg(feature = "oracle-tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build_cmd::{kforge, text};

/// A tree whose `make bzImage` compiles three C files with `$(CC)`, one
/// including a header the build writes in `$(O)` (the kernel's
/// include/generated), as kbuild compiles: absolute paths to both.
fn compiling_tree(dir: &Path) -> PathBuf {
    let tree = dir.join("linux");
    std::fs::create_dir_all(tree.join("init")).unwrap();
    std::fs::create_dir_all(tree.join("arch/x86")).unwrap();
    std::fs::write(
        tree.join("Kconfig"),
        "mainmenu \"Fake\"\n\nconfig MODULES\n\tbool \"modules\"\n",
    )
    .unwrap();
    for (f, body) in [
        (
            "main.c",
            "#include \"generated.h\"\nint start(void) { return GENERATED * 2; }\n",
        ),
        (
            "calibrate.c",
            "int calibrate(int x) { return x * 3 + 1; }\n",
        ),
        ("version.c", "const char banner[] = \"fake version\";\n"),
    ] {
        std::fs::write(tree.join("init").join(f), body).unwrap();
    }
    let mk = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\nNAME = Fake\n\n\
.PHONY: olddefconfig image_name bzImage\n\n\
olddefconfig:\n\t@echo \"  SYNC    .config\"\n\n\
image_name:\n\t@echo arch/x86/boot/bzImage\n\n\
bzImage:\n\
\t@mkdir -p $(O)/include/generated $(O)/init $(O)/arch/x86/boot $(O)/include/config\n\
\t@echo '#define GENERATED 21' > $(O)/include/generated/generated.h\n\
\t@for f in main calibrate version; do echo \"  CC      init/$$f.o\"; \
$(CC) -O2 $(KCPPFLAGS) -I$(O)/include/generated -c $(CURDIR)/init/$$f.c -o $(O)/init/$$f.o || exit 1; done\n\
\t@cat $(O)/init/*.o > $(O)/arch/x86/boot/bzImage\n\
\t@echo 'ffffffff81000000 T _text' > $(O)/System.map\n\
\t@echo 6.1.0-fake > $(O)/include/config/kernel.release\n";
    std::fs::write(tree.join("Makefile"), mk).unwrap();
    tree
}

#[test]
fn sccache_shares_compiles_through_s3_between_machines_of_one_layout() {
    let s3 = kforge_testkit::s3::Server::start();
    s3.bucket("kernels");
    let sccache = kforge_testkit::tool("sccache", "run scripts/prepare-tools");
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\
         launcher = \"sccache\"\n",
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        sccache.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let port = kforge_testkit::free_port().to_string();
    let env = [
        ("PATH", path.as_str()),
        ("SCCACHE_BUCKET", "kernels"),
        ("SCCACHE_ENDPOINT", s3.endpoint.as_str()),
        ("SCCACHE_REGION", "us-east-1"),
        ("SCCACHE_S3_USE_SSL", "false"),
        ("AWS_ACCESS_KEY_ID", s3.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.as_str()),
        // A server of the test's own, not the user's.
        ("SCCACHE_SERVER_PORT", port.as_str()),
    ];
    let stop_server = || {
        let _ = Command::new(&sccache)
            .envs(env)
            .arg("--stop-server")
            .output();
    };
    struct Stop<F: Fn()>(F);
    impl<F: Fn()> Drop for Stop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _stop = Stop(stop_server);

    let mut entries = Vec::new();
    for machine in ["a", "b"] {
        // Each "machine": the same layout, nothing else shared but the
        // bucket (the directory wiped, another sccache server).
        stop_server();
        let dir = d.path().join("machine");
        let _ = std::fs::remove_dir_all(&dir);
        let tree = compiling_tree(&dir);
        let o = kforge(&dir.join("cache"), &dir)
            .envs(env)
            .env("SCCACHE_DIR", dir.join("sccache-local"))
            .arg("build")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let said = if machine == "a" {
            "kforge: sccache: 0 of 3 compiles from the cache, 3 compiled (s3, name: kernels"
        } else {
            "kforge: sccache: 3 of 3 compiles from the cache, 0 compiled (s3, name: kernels"
        };
        assert!(text(&o).contains(said), "{}", text(&o));
        let entry = std::fs::read_link(dir.join("result")).unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.join("manifest.json")).unwrap()).unwrap();
        let image = std::fs::read(entry.join("kernel/bzImage")).unwrap();
        // The prefix maps the compiles were given name this place.
        let maps = m["environment"]["KCPPFLAGS"].as_str().unwrap_or_default();
        assert!(
            maps.contains(&format!("-ffile-prefix-map={}/=", tree.display())),
            "{maps}"
        );
        entries.push((image, m));
    }
    let (a, b) = (&entries[0].1, &entries[1].1);
    let counts = |m: &serde_json::Value| {
        let c = &m["compile_cache"];
        assert_eq!(c["launcher"], "sccache", "{m}");
        assert!(c["location"].as_str().unwrap().starts_with("s3"), "{c}");
        (
            c["requests"].as_u64().unwrap(),
            c["hits"].as_u64().unwrap(),
            c["misses"].as_u64().unwrap(),
        )
    };
    assert_eq!(counts(a), (3, 0, 3), "the first build compiles everything");
    assert_eq!(
        counts(b),
        (3, 3, 0),
        "the second machine is served from the bucket"
    );
    // The bucket holds the three objects; the image is the same bytes.
    let objects = walk_files(&s3.root().join("kernels"));
    assert!(objects >= 3, "{objects} objects in the bucket");
    assert_eq!(entries[0].0, entries[1].0, "the images differ");
}

fn walk_files(d: &Path) -> usize {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
