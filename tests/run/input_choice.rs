//! ENAS's input choice (`node_inputs`) under single-path one-shot NAS (`tests/run/input_choice.nas`):
//! a uniform supernet, few-shot sub-supernets split on an input decision, evolution, `rank`, the
//! best architecture retrained stand-alone with drop-path and an auxiliary head, MnasNet-mode `rl`
//! children and SMASH's generated weights, end to end in a smoke run.

use nasl::cost::arch_cost;
use nasl::ir::Arch;

use super::common::{read_json, root};

#[test]
fn input_choice_cells_run_through_spos_few_shot_and_retrain() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/input_choice.nas");
    let out = tmp.path().join("run");
    let o = super::common::run_into(&file, &out, 3)
        .arg("--smoke")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], true, "{summary}");
    let stage = |name: &str| super::common::stage_of(&summary, name);
    // `split_on 1` splits on `normal.node0.input0`: node 0 reads cell input 0 or 1.
    assert_eq!(stage("split")["sub_supernets"], 2);
    // The best architecture chose every node's inputs, and the retrained network is that
    // architecture's: its exact parameter count.
    let text = std::fs::read_to_string(out.join("stages/search/best.arch.yaml")).unwrap();
    let arch = Arch::from_yaml(&text).unwrap();
    for cell in ["normal", "reduce"] {
        for n in 0..3 {
            for s in 0..2 {
                let d = format!("{cell}.node{n}.input{s}");
                assert!(arch.choices.contains_key(&d), "{d} not in\n{text}");
            }
        }
    }
    let front = nasl::driver::check_file(&file, &nasl::source::FsLoader);
    let (_, space) = &front.spaces[0];
    let cost = arch_cost(space, &arch).unwrap();
    assert_eq!(stage("final")["params"], cost.params, "{text}");
    assert_eq!(stage("search")["params"], cost.params);
    assert!(stage("final")["auxiliary_params"].as_u64().unwrap() > 0);
    // Stand-alone children and generated weights of input-choice architectures.
    assert!(stage("mnas")["params"].as_u64().unwrap() > 0);
    assert_eq!(stage("smash")["evaluated"], 4);
}
