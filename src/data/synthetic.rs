//! A small synthetic dataset for fast tests: each class is a fixed random template plus noise, so a
//! small network learns it in a few steps and results are reproducible from the seed.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset, DatasetSource, RawImages};

#[derive(Debug, Clone)]
pub struct Synthetic {
    pub train: usize,
    pub test: usize,
    pub classes: usize,
    pub channels: usize,
    pub size: usize,
    /// Per-pixel noise amplitude in 0..=255.
    pub noise: u8,
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic {
            train: 1000,
            test: 200,
            classes: 10,
            channels: 1,
            size: 28,
            noise: 96,
            seed: 0,
        }
    }
}

impl Synthetic {
    fn split(&self, rng: &mut ChaCha8Rng, templates: &[Vec<u8>], n: usize) -> RawImages {
        let mut raw = RawImages::empty(self.channels, self.size, self.size);
        for i in 0..n {
            let label = i % self.classes;
            raw.labels.push(label as u16);
            raw.pixels.extend(templates[label].iter().map(|&t| {
                let noise = rng.random_range(0..=self.noise as i32) - self.noise as i32 / 2;
                (t as i32 + noise).clamp(0, 255) as u8
            }));
        }
        raw
    }
}

impl DatasetSource for Synthetic {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn load(&self) -> Result<Dataset, DataError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let pixels = self.channels * self.size * self.size;
        let templates: Vec<Vec<u8>> = (0..self.classes)
            .map(|_| {
                (0..pixels)
                    .map(|_| if rng.random_bool(0.5) { 200 } else { 40 })
                    .collect()
            })
            .collect();
        let train = self.split(&mut rng, &templates, self.train);
        let test = self.split(&mut rng, &templates, self.test);
        Ok(Dataset {
            name: "synthetic".into(),
            classes: (0..self.classes).map(|c| format!("class_{c}")).collect(),
            train,
            test,
        })
    }
}
