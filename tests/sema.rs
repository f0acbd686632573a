//! Sema behaviour beyond the one-per-code UI files: each case asserts the exact codes a small file
//! produces; plus consistency of the grammar keyword list and the docs with sema's tables.

use nasl::diag::Code;
use nasl::sema::{check_text, hir};

const BASE: &str = "dataset d = mnist { split train: 50000, val: 10000 }
space s = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: 16, stride: 2, repeat: 2, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage t = train(s) { sampler uniform; epochs 1; optimizer sgd(lr: 0.1) }
stage e = evolution(t) { population 10 }
stage r = retrain(e.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
";

fn codes(text: &str) -> Vec<&'static str> {
    check_text("t.nas", text)
        .diags
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

fn with(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "{old}");
    BASE.replacen(old, new, 1)
}

#[test]
fn base_is_valid_and_produces_hir() {
    let c = check_text("t.nas", BASE);
    assert!(c.diags.is_empty(), "{:?}", c.diags);
    let p = c.program.expect("hir");
    assert_eq!(p.stages.len(), 4);
    let hir::SpaceBody::Chain(chain) = &p.spaces[0].body else {
        panic!("chain")
    };
    assert_eq!(chain.input, [1, 28, 28]);
    let hir::Layer::Choose(cands) = &chain.stages[0].layer else {
        panic!("choose")
    };
    assert_eq!(cands.len(), 2);
    assert_eq!(
        cands[0].len(),
        3,
        "conv bn relu is one candidate of three ops"
    );
    assert_eq!(
        cands[0][0].arg("out"),
        Some(&hir::Arg::Context),
        "out comes from the stage"
    );
    assert_eq!(cands[0][0].arg("kernel"), Some(&hir::Arg::Int(3)));
    assert_eq!(
        p.stages[2].inputs,
        vec![hir::Input::Stage {
            stage: "e".into(),
            field: Some("best".into())
        }]
    );
    assert_eq!(p.stages[0].data.as_deref(), Some("d"));
}

#[test]
fn all_errors_of_a_file_are_collected() {
    let text = with("sampler uniform", "sampler unifrom")
        .replace("population 10", "populaton 10")
        .replace("conv(3, out: 8)", "cnv(3, out: 8)");
    let c = codes(&text);
    assert!(c.contains(&"nasl::sema::unknown_value"), "{c:?}");
    assert!(c.contains(&"nasl::sema::unknown_setting"), "{c:?}");
    assert!(c.contains(&"nasl::sema::unknown_op"), "{c:?}");
}

#[test]
fn searching_a_fixed_net_is_wrong_input() {
    let text =
        with("choose [conv(3) bn relu, skip]", "conv(3) bn relu").replace("sampler uniform; ", "");
    assert_eq!(codes(&text), ["nasl::sema::wrong_input"]);
}

#[test]
fn retraining_nothing_and_a_supernet() {
    assert_eq!(
        codes(&with("retrain(e.best)", "retrain()")),
        ["nasl::sema::missing"]
    );
    assert_eq!(
        codes(&with("retrain(e.best)", "retrain(t)")),
        ["nasl::sema::wrong_input"]
    );
    assert_eq!(
        codes(&with("evolution(t)", "evolution(s)")),
        ["nasl::sema::wrong_input"]
    );
}

#[test]
fn fair_sampling_needs_equal_choice_counts() {
    let text = with("sampler uniform", "sampler fair").replace(
        "  head",
        "  layers out: 16, stride: 1, repeat: 1, choose [conv(3), conv(5), skip]\n  head",
    );
    assert_eq!(codes(&text), ["nasl::sema::sampler_mismatch"]);
    assert!(codes(&with("sampler uniform", "sampler fair")).is_empty());
}

#[test]
fn relaxations_and_samplers_stay_in_their_stage() {
    assert_eq!(
        codes(&with("sampler uniform", "sampler softmax")),
        ["nasl::sema::sampler_mismatch"]
    );
    assert_eq!(
        codes(&with("sampler uniform", "relax softmax")),
        ["nasl::sema::unknown_setting"]
    );
}

#[test]
fn constraints_outside_the_sampler_range_are_unsatisfiable() {
    let text = with("sampler uniform", "sampler constrained(flops: 5M..20M)")
        .replace("population 10", "population 10; constraint flops <= 1M");
    assert_eq!(codes(&text), ["nasl::sema::unsatisfiable_constraint"]);
    let text = with("sampler uniform", "sampler constrained(flops: 5M..20M)")
        .replace("population 10", "population 10; constraint flops <= 10M");
    assert!(codes(&text).is_empty(), "{:?}", codes(&text));
    let text = with(
        "population 10",
        "population 10; constraint val.accuracy >= 2",
    );
    assert_eq!(codes(&text), ["nasl::sema::unsatisfiable_constraint"]);
    let text = with("population 10", "population 10; constraint flops <= 0");
    assert_eq!(codes(&text), ["nasl::sema::unsatisfiable_constraint"]);
}

#[test]
fn elastic_arguments_only_in_stage_layers() {
    assert_eq!(
        codes(&with("conv(3, out: 8)", "conv([3, 5], out: 8)")),
        ["nasl::sema::wrong_type"]
    );
    assert!(
        codes(&with(
            "choose [conv(3) bn relu, skip]",
            "choose [conv([3, 5]) bn relu, skip]"
        ))
        .is_empty()
    );
    assert_eq!(
        codes(&with(
            "choose [conv(3) bn relu, skip]",
            "choose [conv(3, stride: [1, 2]), skip]"
        )),
        ["nasl::sema::wrong_type"]
    );
}

#[test]
fn splits_fractions_and_dataset_sources() {
    assert_eq!(
        codes(&with("train: 50000, val: 10000", "train: 0.7, val: 0.5")),
        ["nasl::sema::impossible_split"]
    );
    assert!(codes(&with("train: 50000, val: 10000", "train: 0.8, val: 0.2")).is_empty());
    assert_eq!(codes(&with("= mnist", "= folder")), ["nasl::sema::missing"]);
    let c = check_text("t.nas", &with("= mnist", "= fmnist"));
    assert_eq!(c.diags[0].help.as_deref(), Some("did you mean `mnist`?"));
}

#[test]
fn head_must_produce_the_class_scores() {
    assert_eq!(
        codes(&with("linear(out: classes)", "linear(out: 7)")),
        ["nasl::sema::shape_mismatch"]
    );
    assert_eq!(
        codes(&with(
            "global_avg_pool linear(out: classes)",
            "linear(out: classes)"
        )),
        ["nasl::sema::shape_mismatch"]
    );
    assert_eq!(
        codes(&with(
            "global_avg_pool linear(out: classes)",
            "global_avg_pool"
        )),
        ["nasl::sema::shape_mismatch"]
    );
}

#[test]
fn block_arguments_are_checked_at_the_call() {
    let text = format!(
        "block b(k) = conv(kernel: k) bn\n{}",
        with(
            "choose [conv(3) bn relu, skip]",
            "choose [b(3), b(k: 5), skip]"
        )
    );
    assert!(codes(&text).is_empty(), "{:?}", codes(&text));
    let text = format!(
        "block b(k) = conv(kernel: k) bn\n{}",
        with(
            "choose [conv(3) bn relu, skip]",
            "choose [b(\"x\"), b(3, 4), b(j: 3), skip]"
        )
    );
    let c = codes(&text);
    for want in [
        "nasl::sema::wrong_type",
        "nasl::sema::bad_arguments",
        "nasl::sema::unknown_argument",
        "nasl::sema::missing",
    ] {
        assert!(c.contains(&want), "{want} in {c:?}");
    }
}

#[test]
fn stage_fields_and_dataset_splits_are_checked() {
    assert_eq!(
        codes(&with("e.best", "e.bset")),
        ["nasl::sema::unknown_name"]
    );
    assert_eq!(
        codes(&with("d.test", "d.tset")),
        ["nasl::sema::unknown_name"]
    );
    assert_eq!(
        codes(&with("retrain(e.best)", "retrain(r.best)")),
        ["nasl::sema::stage_order"]
    );
}

#[test]
fn every_code_is_documented_and_every_key_is_a_grammar_keyword() {
    let docs = std::fs::read_to_string("docs/language.md").expect("docs");
    for c in Code::ALL {
        assert!(
            docs.contains(&format!("`{}`", c.as_str())),
            "{} undocumented",
            c.as_str()
        );
    }
    let grammar = std::fs::read_to_string("grammar/nasl.pest").expect("grammar");
    let kw = grammar
        .split("setting_kw = _{")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .expect("setting_kw rule");
    let space_keys = [
        "stem",
        "layers",
        "head",
        "resolution",
        "ops",
        "network",
        "normal",
        "reduce",
        "node",
        "concat",
    ];
    let dataset_keys = [
        "path",
        "split",
        "batch",
        "augment",
        "normalize",
        "classes",
        "size",
        "seed",
    ];
    for k in nasl::sema::tables::SETTINGS
        .iter()
        .map(|s| s.key)
        .chain(space_keys)
        .chain(dataset_keys)
        .chain(nasl::sema::tables::SLURM_SETTINGS.iter().map(|s| s.key))
        .chain(["data"])
    {
        assert!(
            kw.contains(&format!("\"{k}\"")),
            "`{k}` missing from setting_kw in the grammar"
        );
    }
}

/// Codes of the whole front end (sema, the IR build, `nasl run`'s contract).
fn front_codes(text: &str) -> Vec<&'static str> {
    nasl::driver::check_text("t.nas", text)
        .checked
        .diags
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// The `executor slurm { ... }` block: checked values lowered to the typed spec (defaults from the
/// table), bad kinds, keys and values refused with their diagnostic, span and help line.
#[test]
fn the_executor_block_is_checked() {
    let block = "executor slurm {\n  partition \"gpu\"\n  time 90min\n  gpus_per_task 1\n  cpus_per_task 4\n  account \"lab\"\n}\n";
    let c = check_text("t.nas", &format!("{block}{BASE}"));
    assert!(c.diags.is_empty(), "{:?}", c.diags);
    let spec = c.program.expect("hir").executor.expect("the block");
    assert_eq!(spec.partition.as_deref(), Some("gpu"));
    assert_eq!(spec.time_s, Some(5400.0));
    assert_eq!(spec.max_retries, 3, "the table's default");
    assert_eq!(
        spec.sbatch_options(),
        [
            "--partition=gpu",
            "--time=90",
            "--gpus-per-task=1",
            "--cpus-per-task=4",
            "--account=lab"
        ]
    );
    assert!(
        check_text("t.nas", BASE)
            .program
            .unwrap()
            .executor
            .is_none()
    );
    for (bad, code, help) in [
        (
            "executor slurm { time \"4 hours\" }",
            "nasl::sema::wrong_type",
            "duration",
        ),
        (
            "executor slurm { time 0s }",
            "nasl::sema::out_of_range",
            "longer than zero",
        ),
        (
            "executor slurm { cpus_per_task 0 }",
            "nasl::sema::out_of_range",
            "",
        ),
        (
            "executor slurm { max_retries -1 }",
            "nasl::sema::out_of_range",
            "",
        ),
        (
            "executor slurm { partiton \"gpu\" }",
            "nasl::sema::unknown_setting",
            "partition",
        ),
        (
            "executor slurm { partition 3 }",
            "nasl::sema::wrong_type",
            "string",
        ),
        (
            "executor slurm { partition \"a\"; partition \"b\" }",
            "nasl::sema::bad_arguments",
            "keep one",
        ),
        (
            "executor kubernetes {}",
            "nasl::sema::unknown_value",
            "slurm",
        ),
        (
            "executor slurm {}\nexecutor slurm {}",
            "nasl::sema::duplicate_definition",
            "",
        ),
    ] {
        let text = format!("{bad}\n{BASE}");
        let c = check_text("t.nas", &text);
        let d = c
            .diags
            .iter()
            .find(|d| d.code.as_str() == code)
            .unwrap_or_else(|| panic!("{bad}: {:?}", c.diags));
        assert!(
            d.span.end > d.span.start && d.span.end <= bad.len(),
            "{bad}: {:?}",
            d.span
        );
        assert!(
            d.help.as_deref().unwrap_or("").contains(help),
            "{bad}: {:?}",
            d.help
        );
        assert!(c.program.is_none(), "{bad}");
    }
}

/// A stage setting given twice is an error pointing at both places (a repeatable one, `constraint`,
/// is not).
#[test]
fn a_stage_setting_given_twice_points_at_both() {
    let text = with("population 10", "population 10; population 20");
    let c = check_text("t.nas", &text);
    assert_eq!(c.diags.len(), 1, "{:?}", c.diags);
    let d = &c.diags[0];
    assert_eq!(d.code.as_str(), "nasl::sema::bad_arguments");
    assert_eq!(d.message, "`population` is set twice");
    let again = text.find("population 20").unwrap();
    assert_eq!(d.span.start, again);
    assert_eq!(d.help.as_deref(), Some("keep one"));
    let first = text.find("population 10").unwrap();
    assert!(
        d.notes.iter().any(|(span, _)| span.start == first),
        "{:?}",
        d.notes
    );
    let repeated = with(
        "population 10",
        "population 10; constraint params <= 1000000; constraint flops <= 100000000",
    );
    assert!(codes(&repeated).is_empty(), "{:?}", codes(&repeated));
}

#[test]
fn datasets_that_do_not_fit_their_space_are_check_errors() {
    assert!(front_codes(BASE).is_empty());
    let cifar_space = BASE.replace("input: [1, 28, 28]", "input: [3, 32, 32]");
    assert!(front_codes(&cifar_space).contains(&"nasl::sema::data_mismatch"));
    let classes = BASE.replace("classes: 10", "classes: 7");
    assert!(front_codes(&classes).contains(&"nasl::sema::data_mismatch"));
    // A synthetic dataset is compared with what it is declared to generate.
    let synth = BASE.replace(
        "dataset d = mnist { split train: 50000, val: 10000 }",
        "dataset d = synthetic { classes 7\n split train: 500, val: 100 }",
    );
    assert!(front_codes(&synth).contains(&"nasl::sema::data_mismatch"));
    assert!(front_codes(&synth.replace("classes: 10", "classes: 7")).is_empty());
    for normalize in [
        "normalize ([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])",
        "normalize ([0.5], [0.2, 0.3])",
    ] {
        let text = BASE.replace("val: 10000 }", &format!("val: 10000\n {normalize} }}"));
        assert_eq!(codes(&text), ["nasl::sema::data_mismatch"], "{normalize}");
    }
    let ok = BASE.replace("val: 10000 }", "val: 10000\n normalize ([0.5], [0.2]) }");
    assert!(codes(&ok).is_empty());
}

#[test]
fn what_run_does_not_execute_is_refused_by_check() {
    let refused = |old: &str, new: &str| {
        let c = front_codes(&with(old, new));
        assert!(c.contains(&"nasl::sema::not_run"), "{new}: {c:?}");
    };
    refused("population 10", "population 10; seeds [0, 1]");
    refused("population 10", "population 10; objective test.accuracy");
    // Latency bounds are durations, read from the stage's table.
    let c = front_codes(&with(
        "population 10",
        "population 10; constraint latency <= 5",
    ));
    assert_eq!(c, ["nasl::sema::wrong_type"]);
    let c = front_codes(&with(
        "population 10",
        "population 10; constraint latency <= 5ms",
    ));
    assert!(c.is_empty(), "{c:?}");
    refused("population 10", "population 10; penalty flops");
    // A supernet is evaluated on sampled paths; `samples` belongs to that form alone.
    let c = front_codes(&with(
        "stage ev = evaluate(r, d.test)",
        "stage ev = evaluate(t, d.test) { samples 4 }",
    ));
    assert!(c.is_empty(), "{c:?}");
    refused("evaluate(r, d.test)", "evaluate(r, d.test) { samples 4 }");
    refused(
        "evaluate(r, d.test)",
        "evaluate(r, d.test) { recalibrate bn(images: 100) }",
    );
    // A supernet search's best runs on the supernet's weights, recalibrated.
    let on_supernet = with(
        "stage ev = evaluate(r, d.test)",
        "stage ev = evaluate(e.best, d.test) { recalibrate bn(images: 100) }",
    );
    assert!(front_codes(&on_supernet).is_empty());
    refused("retrain(e.best)", "retrain(e.pareto)");
    let c = front_codes(&with(
        "sampler uniform",
        "sampler constrained(latency: 1..2)",
    ));
    assert_eq!(c, ["nasl::sema::wrong_type"]);
    let c = front_codes(&with(
        "sampler uniform",
        "sampler constrained(latency: 1ms..2ms)",
    ));
    assert!(c.is_empty(), "{c:?}");
    // A latency table nothing reads is refused.
    refused("population 10", "population 10; latency measure(runs: 5)");
    // An empty evaluation split is caught before anything runs.
    let c =
        front_codes(&with("evaluate(r, d.test)", "evaluate(r, d.val)").replace(", val: 10000", ""));
    assert!(c.contains(&"nasl::sema::missing"), "{c:?}");
    // Two learning-rate schedules, and schedule shapes, are checked.
    let c = front_codes(&with(
        "sgd(lr: 0.1) }\nstage e",
        "sgd(lr: 0.1 -> 0.01 cosine); schedule cosine }\nstage e",
    ));
    assert_eq!(c, ["nasl::sema::bad_arguments"]);
    let c = codes(&with(
        "sgd(lr: 0.1) }\nstage e",
        "sgd(lr: 0.1 -> 0.01 step) }\nstage e",
    ));
    assert_eq!(c, ["nasl::sema::unknown_value"]);
    assert!(
        front_codes(&with(
            "sgd(lr: 0.1) }\nstage e",
            "sgd(lr: 0.1 -> 0.01 cosine) }\nstage e"
        ))
        .is_empty()
    );
}

#[test]
fn few_shot_splits_are_counted_without_enumerating_them() {
    let text = "dataset d = mnist { split train: 50000, val: 10000 }
space c = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 3, channels: 8, input: [1, 28, 28], classes: 10
}
stage t = train(c) { epochs 1 }
stage f = few_shot(t) { split_on 28; finetune 1 }
";
    // 8^28 sub-supernets: refused at once (enumerating them would never finish).
    let front = nasl::driver::check_text("t.nas", text);
    let d = &front.checked.diags;
    assert!(
        d.iter()
            .any(|d| d.code == Code::SemaNotRun && d.message.contains("more than 64")),
        "{d:?}"
    );
    assert!(front_codes(&text.replace("split_on 28", "split_on 2")).is_empty());
}

const CELLS: &str = "dataset d = mnist { split train: 50000, val: 10000 }
space c = cell(nodes: 3, inputs: 2) {
  ops [relu_conv_bn(3), relu_conv_bn(1), avg_pool(3), skip, none]
  network cells: 3, channels: 8, input: [1, 28, 28], classes: 10
}
space c2 = cell(nodes: 2, inputs: 2) {
  ops [relu_conv_bn(3), skip]
  network cells: 3, channels: 8, input: [1, 28, 28], classes: 10
}
stage u = train(c) { sampler uniform; epochs 1 }
stage f = train(c) { sampler fair; affine false; epochs 1 }
stage s = few_shot(f) { split_on 1; finetune 1; sampler fair }
stage other = train(c2) { epochs 1 }
stage r = rank(u, f, s) { samples 4; epochs 1; seeds [0, 1] }
";

/// Strict fairness, non-affine supernet norms, few-shot splits and a multi-supernet `rank` with
/// seeds all run on cell spaces; what does not fit is refused with a code.
#[test]
fn cell_supernets_take_fair_sampling_affine_and_seeded_multi_rank() {
    assert!(front_codes(CELLS).is_empty(), "{:?}", front_codes(CELLS));
    // Supernets of two spaces cannot be ranked on one set of architectures.
    assert_eq!(
        front_codes(&CELLS.replace("rank(u, f, s)", "rank(u, other)")),
        ["nasl::sema::wrong_input"]
    );
    // Every input must be a supernet.
    assert_eq!(
        front_codes(&CELLS.replace("rank(u, f, s)", "rank(u, c)")),
        ["nasl::sema::wrong_input"]
    );
    // At most eight supernets.
    let nine = format!("rank({})", ["u"; 9].join(", "));
    assert_eq!(
        front_codes(&CELLS.replace("rank(u, f, s)", &nine)),
        ["nasl::sema::bad_arguments"]
    );
    // `affine` switches a cell supernet's norms; chains and fixed networks refuse it.
    assert_eq!(
        front_codes(&with("sampler uniform;", "sampler uniform; affine false;")),
        ["nasl::sema::not_run"]
    );
    let fixed = CELLS.replace("stage other = train(c2) { epochs 1 }", "stage other = train(g) { affine false }")
        .replace(
            "stage u =",
            "space g = genotype(inputs: 2) {\n  normal {\n    node (skip, 0), (skip, 1)\n  }\n  reduce {\n    node (skip, 0), (skip, 1)\n  }\n  network cells: 3, channels: 8, input: [1, 28, 28], classes: 10\n}\nstage u =",
        )
        .replace("rank(u, f, s)", "rank(u, f)");
    assert!(
        front_codes(&fixed).contains(&"nasl::sema::not_run"),
        "{:?}",
        front_codes(&fixed)
    );
    // `seeds` is still refused on searches.
    assert_eq!(
        front_codes(&with("population 10", "population 10; seeds [0, 1]")),
        ["nasl::sema::not_run"]
    );
}

/// `rl` runs in two modes; each refuses the other's settings, and what the controller does not read.
#[test]
fn rl_modes_refuse_the_other_modes_settings() {
    let rl = |settings: &str| {
        with(
            "stage e = evolution(t) { population 10 }",
            &format!("stage e = rl(s) {{ {settings} }}"),
        )
    };
    for ok in [
        "shared true; epochs 2; steps 5; derive sample(4); controller lstm(algorithm: ppo)",
        "epochs 1; derive argmax",
        "shared false; samples 8; proxy_epochs 1; reward mnas(target: 5ms); latency measure",
        "shared false; samples 8; controller lstm(hidden: 20, tanh: 0, temperature: 0)",
    ] {
        let c = front_codes(&rl(ok));
        assert!(c.is_empty(), "{ok}: {c:?}");
    }
    for refused in [
        "shared true; proxy_epochs 2",
        "samples 8",
        "shared false; steps 5",
        "shared false; epochs 2",
        "shared false; derive sample(4)",
        "shared false; weights sgd(lr: 0.1)",
        "latency measure",
        "reward mnas(target: 5ms, metric: flops)",
        "objective val.accuracy",
        "constraint params <= 100000",
        "penalty flops",
        "seeds [0, 1]",
    ] {
        let c = front_codes(&rl(refused));
        assert!(c.contains(&"nasl::sema::not_run"), "{refused}: {c:?}");
    }
    for (bad, code) in [
        ("controller lstm(lr: 0)", "nasl::sema::out_of_range"),
        (
            "controller lstm(temperature: -1)",
            "nasl::sema::out_of_range",
        ),
        ("controller lstm(tanh: -2.5)", "nasl::sema::out_of_range"),
        ("controller lstm(entropy: -0.1)", "nasl::sema::out_of_range"),
        (
            "controller lstm(algorithm: a2c)",
            "nasl::sema::unknown_value",
        ),
        ("controller lstm(baseline: 1.5)", "nasl::sema::out_of_range"),
        ("steps 0", "nasl::sema::out_of_range"),
        ("reward mnas(target: 0ms)", "nasl::sema::out_of_range"),
        (
            "reward mnas(target: 5ms, w: 0.07)",
            "nasl::sema::suspicious_value",
        ),
        ("shared 1", "nasl::sema::wrong_type"),
    ] {
        let c = front_codes(&rl(bad));
        assert_eq!(c, [code], "{bad}");
    }
}

/// A chain's group of layers is `layers`; the old spelling `stage` (which now names pipeline stages
/// only) is an error that says how to rename it.
#[test]
fn a_chain_group_written_stage_is_told_to_say_layers() {
    let text = with("  layers out: 16", "  stage out: 16");
    let c = check_text("t.nas", &text);
    let d = c
        .diags
        .iter()
        .find(|d| d.code == Code::SemaUnknownSetting)
        .unwrap_or_else(|| panic!("{:?}", c.diags));
    assert!(d.message.contains("`layers`"), "{}", d.message);
    assert!(
        d.help.as_deref().unwrap_or("").contains("layers out:"),
        "{:?}",
        d.help
    );
    assert!(c.program.is_none());
}

/// A small ENAS cell space with `node_inputs` replaced by `ni` (a line of the space's body), and a
/// stage reading it.
fn input_choice(cell: &str, ni: &str, stage: &str) -> String {
    format!(
        "dataset d = cifar10 {{ split train: 25000, val: 25000 }}
space c = {cell} {{
  ops [sep_conv(3), sep_conv(5), avg_pool(3), max_pool(3), skip]
  {ni}
  network cells: 3, channels: 8, input: [3, 32, 32], classes: 10
}}
{stage}
stage r = retrain(search.best) {{ epochs 1; optimizer sgd(lr: 0.1) }}
stage ev = evaluate(r, d.test)
"
    )
}

const ENAS_STAGE: &str = "stage search = rl(c) { shared true; epochs 1; weights sgd(lr: 0.05) }";
const CELL2: &str = "cell(nodes: 3, inputs: 2)";

/// `node_inputs k` needs a whole number between 1 and the cell's inputs, in a two-input cell; each
/// error has its code, the value's span and a help line saying what to write.
#[test]
fn node_inputs_is_checked_with_codes_spans_and_help() {
    for stage in [
        ENAS_STAGE,
        "stage t = train(c) { sampler uniform; epochs 1 }\nstage search = evolution(t) { population 4 }",
        "stage search = rl(c) { shared false; samples 4; proxy_epochs 1 }",
    ] {
        let ok = input_choice(CELL2, "node_inputs 2", stage);
        assert!(
            front_codes(&ok).is_empty(),
            "{stage}: {:?}",
            front_codes(&ok)
        );
    }
    let ok1 = input_choice(CELL2, "node_inputs 1", ENAS_STAGE);
    assert!(front_codes(&ok1).is_empty(), "{:?}", front_codes(&ok1));
    for (ni, cell, code, span, help) in [
        (
            "node_inputs 3",
            CELL2,
            "nasl::sema::out_of_range",
            "3",
            "between 1 and 2",
        ),
        (
            "node_inputs 0",
            CELL2,
            "nasl::sema::out_of_range",
            "0",
            "at least 1",
        ),
        (
            "node_inputs 2",
            "cell(nodes: 3, inputs: 1)",
            "nasl::sema::out_of_range",
            "node_inputs 2",
            "inputs: 2",
        ),
        (
            "node_inputs two",
            CELL2,
            "nasl::sema::wrong_type",
            "two",
            "whole number",
        ),
        (
            "node_inputs 1.5",
            CELL2,
            "nasl::sema::wrong_type",
            "1.5",
            "whole number",
        ),
        (
            "node_input 2",
            CELL2,
            "nasl::sema::unknown_setting",
            "node_input",
            "node_inputs",
        ),
    ] {
        let text = input_choice(cell, ni, ENAS_STAGE);
        let c = check_text("t.nas", &text);
        assert_eq!(
            c.diags.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
            [code],
            "{ni} in {cell}: {:?}",
            c.diags
        );
        let d = &c.diags[0];
        let at = text.find(ni).unwrap() + ni.find(span).unwrap();
        assert_eq!(
            (d.span.start, d.span.end),
            (at, at + span.len()),
            "{ni}: {:?}",
            d
        );
        let text_of = format!("{} {}", d.message, d.help.as_deref().unwrap_or(""));
        assert!(text_of.contains(help), "{ni}: {text_of}");
    }
}

/// What the executor cannot do with an input choice is refused by `nasl check`: a differentiable
/// relaxation (`not_run`, on `relax`) and strict fairness (`sampler_mismatch`); few-shot splitting on
/// an input decision and path dropout run.
#[test]
fn input_choice_refusals_are_check_errors() {
    let darts =
        "stage search = differentiable(c) { relax softmax; epochs 1; weights sgd(lr: 0.025) }";
    let text = input_choice(CELL2, "node_inputs 2", darts);
    assert_eq!(front_codes(&text), ["nasl::sema::not_run"]);
    let d = nasl::driver::check_text("t.nas", &text).checked.diags[0].clone();
    assert!(d.message.contains("normal.node0.input0"), "{}", d.message);
    assert!(d.help.as_deref().unwrap_or("").contains("rl(space)"));
    // The same space without the input choice is DARTS's, which runs.
    assert!(front_codes(&input_choice(CELL2, "", darts)).is_empty());
    let fair = "stage search = train(c) { sampler fair; epochs 1 }";
    assert_eq!(
        front_codes(&input_choice(CELL2, "node_inputs 2", fair)).first(),
        Some(&"nasl::sema::sampler_mismatch")
    );
    assert!(!front_codes(&input_choice(CELL2, "", fair)).contains(&"nasl::sema::sampler_mismatch"));
    for runs in [
        "stage t = train(c) { sampler uniform; epochs 1 }\nstage f = few_shot(t) { split_on 1; finetune 1 }\nstage search = evolution(f) { population 4 }",
        "stage t = train(c) { sampler path_dropout(rate: 0.2); epochs 1 }\nstage search = random_search(t) { samples 4 }",
    ] {
        let text = input_choice(CELL2, "node_inputs 2", runs);
        assert!(
            front_codes(&text).is_empty(),
            "{runs}: {:?}",
            front_codes(&text)
        );
    }
}

/// `sample_over` draws the edges of cells: on a chain, with input choice, or with a sampler that
/// draws its own way (`fair`) it is a `sampler_mismatch` on the setting; `classes` enumerates each
/// cell, so a cell too big for that is refused (`not_run`) while `live` runs; the sandwich rule runs
/// on cells and chains.
#[test]
fn sample_over_and_sandwich_are_checked() {
    let stage = |settings: &str| {
        format!(
            "stage t = train(c) {{ {settings}; epochs 1 }}\nstage search = random_search(t) {{ samples 4 }}"
        )
    };
    for ok in [
        "sample_over classes",
        "sample_over live",
        "sample_over edges; sampler fair",
        "sampler sandwich(random: 1, distill: true); sample_over classes",
        "sampler sandwich",
    ] {
        let text = input_choice(CELL2, "", &stage(ok));
        assert!(
            front_codes(&text).is_empty(),
            "{ok}: {:?}",
            front_codes(&text)
        );
    }
    for (cell, ni, settings) in [
        (CELL2, "node_inputs 2", "sample_over live"),
        (CELL2, "", "sampler fair; sample_over classes"),
        (
            CELL2,
            "",
            "sampler path_dropout(rate: 0.1); sample_over live",
        ),
    ] {
        let text = input_choice(cell, ni, &stage(settings));
        let c = nasl::driver::check_text("t.nas", &text).checked;
        assert_eq!(
            c.diags.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
            ["nasl::sema::sampler_mismatch"],
            "{settings}"
        );
        let at = text.find("sample_over").unwrap();
        assert_eq!(c.diags[0].span.start, at, "{settings}");
        assert!(c.diags[0].help.is_some());
    }
    let chain = with(
        "stage t = train(s) { sampler uniform;",
        "stage t = train(s) { sampler uniform; sample_over live;",
    );
    assert_eq!(codes(&chain), ["nasl::sema::sampler_mismatch"]);
    let sandwich = with(
        "stage t = train(s) { sampler uniform;",
        "stage t = train(s) { sampler sandwich(random: 2);",
    );
    assert!(codes(&sandwich).is_empty(), "{:?}", codes(&sandwich));
    // Four nodes of 5 ops: 5^14 assignments per cell type, too many to enumerate.
    let big = "cell(nodes: 4, inputs: 2)";
    let text = input_choice(big, "", &stage("sample_over classes"));
    assert_eq!(front_codes(&text), ["nasl::sema::not_run"]);
    assert!(front_codes(&input_choice(big, "", &stage("sample_over live"))).is_empty());
}
