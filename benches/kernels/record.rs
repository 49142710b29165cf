//! Criterion groups that also keep each benchmark's per-iteration times, so that the run ends
//! with every throughput as a ratio to a baseline measured in the same process (criterion
//! reports each benchmark on its own).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

/// What one iteration of a benchmark processes.
#[derive(Clone, Copy)]
pub enum Work {
    /// Bytes read, reported in GB/s (criterion: decimal GB/s).
    Bytes(usize),
    /// int8 operations, a multiply-add counting as two; GOPS (criterion: elem/s).
    Ops(usize),
    /// Activation elements (criterion: elem/s).
    Elements(usize),
}

impl Work {
    fn throughput(self) -> Throughput {
        match self {
            Work::Bytes(n) => Throughput::BytesDecimal(n as u64),
            Work::Ops(n) | Work::Elements(n) => Throughput::Elements(n as u64),
        }
    }

    fn rate(self, secs: f64) -> String {
        match self {
            Work::Bytes(n) => format!("{:.2} GB/s", n as f64 / secs / 1e9),
            Work::Ops(n) => format!("{:.1} GOPS", n as f64 / secs / 1e9),
            Work::Elements(n) => format!("{:.1} Melem/s", n as f64 / secs / 1e6),
        }
    }

    fn amount(self) -> f64 {
        match self {
            Work::Bytes(n) | Work::Ops(n) | Work::Elements(n) => n as f64,
        }
    }
}

struct Record {
    id: String,
    work: Work,
    /// Seconds per iteration, one entry per call criterion made (warm-up, then samples).
    secs: Vec<f64>,
    /// The baseline's id and work, and its seconds per iteration measured right after each
    /// of those calls.
    base: Option<(String, Work, Vec<f64>)>,
}

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

/// The summary's medians come from each benchmark's last calls: criterion takes at least 10
/// samples after its warm-up, so these are never warm-up calls.
const LAST: usize = 10;

/// A baseline: benchmarked on its own, and run again after every sample of each benchmark
/// compared with it, for as long as that sample took. Ratios come from those pairs, so a
/// change in the machine's load between two benchmarks does not enter them.
pub struct Baseline<'b> {
    id: String,
    work: Work,
    run: Box<dyn FnMut() + 'b>,
}

impl Baseline<'_> {
    /// Runs the baseline for at least `d` (and at least once); seconds per iteration.
    fn time_for(&mut self, d: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0u32;
        loop {
            (self.run)();
            n += 1;
            let elapsed = start.elapsed();
            if elapsed >= d {
                return elapsed.as_secs_f64() / f64::from(n);
            }
        }
    }
}

/// A criterion group whose benchmarks are recorded for [`print_summary`].
pub struct Group<'a> {
    name: String,
    group: BenchmarkGroup<'a, WallTime>,
}

impl<'a> Group<'a> {
    pub fn new(c: &'a mut Criterion, name: &str) -> Self {
        Group {
            name: name.to_string(),
            group: c.benchmark_group(name),
        }
    }

    /// For benchmarks whose iterations take tens of milliseconds or more: equal iteration
    /// counts per sample, and `samples` of them.
    pub fn slow(&mut self, samples: usize) {
        self.group.sampling_mode(SamplingMode::Flat);
        self.group.sample_size(samples);
    }

    /// Benchmarks `f` as `<group>/<id>` and keeps it as a baseline for later benchmarks.
    pub fn baseline<'b, R>(
        &mut self,
        id: &str,
        work: Work,
        mut f: impl FnMut() -> R + 'b,
    ) -> Baseline<'b> {
        self.bench(id, work, None, &mut f);
        Baseline {
            id: format!("{}/{id}", self.name),
            work,
            run: Box::new(move || {
                black_box(f());
            }),
        }
    }

    /// Benchmarks `f` as `<group>/<id>`, paired with `base` if given.
    ///
    /// Inputs made lazily on the first call (the 1 GiB of copies) count in criterion's
    /// warm-up estimate; criterion then takes one-iteration samples for that benchmark, which
    /// stay exact as those iterations take 0.4 ms or more.
    pub fn bench<R>(
        &mut self,
        id: &str,
        work: Work,
        mut base: Option<&mut Baseline<'_>>,
        mut f: impl FnMut() -> R,
    ) {
        let (mut secs, mut base_secs) = (Vec::new(), Vec::new());
        self.group.throughput(work.throughput());
        self.group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f());
                }
                let elapsed = start.elapsed();
                secs.push(elapsed.as_secs_f64() / iters as f64);
                if let Some(base) = base.as_mut() {
                    base_secs.push(base.time_for(elapsed));
                }
                elapsed
            })
        });
        if secs.is_empty() {
            return; // filtered out
        }
        let record = Record {
            id: format!("{}/{id}", self.name),
            work,
            secs,
            base: base.map(|b| (b.id.clone(), b.work, base_secs)),
        };
        RECORDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    pub fn finish(self) {
        self.group.finish();
    }
}

/// The median of the last [`LAST`] values.
fn median(values: &[f64]) -> f64 {
    let mut v = values[values.len() - LAST..].to_vec();
    v.sort_by(f64::total_cmp);
    (v[LAST / 2 - 1] + v[LAST / 2]) / 2.0
}

fn time(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

/// Prints a Markdown table of every benchmark that ran to the end: median time per
/// iteration, throughput, and the median over samples of its throughput divided by its
/// baseline's, measured right after it.
pub fn print_summary() {
    let records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    let done: Vec<&Record> = records.iter().filter(|r| r.secs.len() >= LAST).collect();
    if done.is_empty() {
        return;
    }
    println!("\nMedians of the last {LAST} samples of each benchmark:\n");
    println!("| benchmark | median time | throughput | ratio to baseline (paired) |");
    println!("|---|---:|---:|---|");
    for r in &done {
        let secs = median(&r.secs);
        let ratio = match &r.base {
            Some((id, work, base_secs)) => {
                let n = r.secs.len();
                let ratios: Vec<f64> = r.secs[n - LAST..]
                    .iter()
                    .zip(&base_secs[n - LAST..])
                    .map(|(s, b)| (r.work.amount() / s) / (work.amount() / b))
                    .collect();
                let short = id.split_once('/').map_or(id.as_str(), |(_, s)| s);
                let base_rate = work.rate(median(base_secs));
                format!("{:.2}x {short} ({base_rate})", median(&ratios))
            }
            None if done
                .iter()
                .any(|x| x.base.as_ref().is_some_and(|b| b.0 == r.id)) =>
            {
                "(baseline)".to_string()
            }
            None => "-".to_string(),
        };
        println!(
            "| {} | {} | {} | {} |",
            r.id,
            time(secs),
            r.work.rate(secs),
            ratio
        );
    }
}
