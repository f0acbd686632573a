//! The server's handlers over random text and positions: no input makes one panic.

use super::exercise;
use proptest::prelude::*;

const SAMPLE: &str = "\
include \"lib.nas\"
dataset d = mnist { split train: 50000, val: 10000 }
block mb(k) = mbconv(kernel: k, expand: 3)
space s = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  stage out: [16, 24], stride: 2, repeat: [1, 2], choose [mb(3), conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage t = train(s) { sampler uniform; epochs 1; optimizer sgd(lr: 0.1) }
stage e = evolution(t) { population 10; constraint params <= 5M; objective val.accuracy }
stage r = retrain(e.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
";

/// The sample with a random cut replaced by random text.
fn mutated() -> impl Strategy<Value = String> {
    (0..SAMPLE.len(), 0..40usize, "\\PC{0,12}").prop_map(|(at, len, ins)| {
        let mut at = at;
        while !SAMPLE.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(SAMPLE.len());
        while !SAMPLE.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{ins}{}", &SAMPLE[..at], &SAMPLE[end..])
    })
}

#[test]
fn the_sample_is_answered_everywhere() {
    for (line, l) in SAMPLE.lines().enumerate() {
        for col in 0..=l.len() as u32 + 1 {
            assert_eq!(
                exercise(SAMPLE, SAMPLE, (line as u32, col)),
                Ok(()),
                "{line}:{col}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}", changed in "\\PC{0,300}", line in 0u32..12, col in 0u32..80) {
        prop_assert_eq!(exercise(&text, &changed, (line, col)), Ok(()));
    }

    #[test]
    fn edited_pipelines_never_panic(text in mutated(), changed in mutated(), line in 0u32..14, col in 0u32..90) {
        prop_assert_eq!(exercise(&text, &changed, (line, col)), Ok(()));
    }
}
