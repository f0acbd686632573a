//! Build script: bakes the libtorch library folder into the binaries' rpath so that `nasl` runs without
//! anyone setting LD_LIBRARY_PATH. torch-sys finds libtorch (LIBTORCH, or LIBTORCH_USE_PYTORCH=1 with a
//! Python environment that has torch) and exports the folder as DEP_TCH_LIBTORCH_LIB.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) if !dir.is_empty() => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        _ => println!(
            "cargo:warning=torch-sys did not report its libtorch folder; set LD_LIBRARY_PATH to it at run \
             time, or build through scripts/nasl, which provisions libtorch"
        ),
    }
}
