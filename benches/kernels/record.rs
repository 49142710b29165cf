//! Criterion groups that also keep each benchmark's per-iteration times, so that the run ends
//! with every throughput as a ratio to a baseline measured in the same process (criterion
//! reports each benchmark on its own).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

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
    baseline: Option<String>,
    /// Seconds per iteration, one entry per call criterion made (warm-up, then samples).
    secs: Vec<f64>,
}

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

/// The summary's median comes from each benchmark's last calls: criterion takes at least 10
/// samples after its warm-up, so these are never warm-up calls.
const LAST: usize = 10;

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

    /// Benchmarks `f` as `<group>/<id>`; `baseline` is the id (in this group) whose
    /// throughput the summary divides by.
    pub fn bench<R>(
        &mut self,
        id: &str,
        work: Work,
        baseline: Option<&str>,
        mut f: impl FnMut() -> R,
    ) {
        let full = format!("{}/{id}", self.name);
        let baseline = baseline.map(|b| format!("{}/{b}", self.name));
        self.group.throughput(work.throughput());
        // One untimed call first: it builds lazily made inputs (the 1 GiB of copies), which
        // would otherwise count in criterion's warm-up estimate of the iteration time.
        let mut primed = false;
        self.group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                if !primed {
                    black_box(f());
                    primed = true;
                }
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f());
                }
                let elapsed = start.elapsed();
                record(&full, work, &baseline, elapsed.as_secs_f64() / iters as f64);
                elapsed
            })
        });
    }

    pub fn finish(self) {
        self.group.finish();
    }
}

fn record(id: &str, work: Work, baseline: &Option<String>, secs: f64) {
    let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    match records.iter_mut().find(|r| r.id == id) {
        Some(r) => r.secs.push(secs),
        None => records.push(Record {
            id: id.to_string(),
            work,
            baseline: baseline.clone(),
            secs: vec![secs],
        }),
    }
}

fn median(r: &Record) -> f64 {
    let mut v = r.secs[r.secs.len() - LAST..].to_vec();
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
/// iteration, throughput, and the ratio of its throughput to its baseline's.
pub fn print_summary() {
    let records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    let done: Vec<&Record> = records.iter().filter(|r| r.secs.len() >= LAST).collect();
    if done.is_empty() {
        return;
    }
    println!("\nMedians of the last {LAST} samples of each benchmark:\n");
    println!("| benchmark | median time | throughput | ratio to baseline |");
    println!("|---|---:|---:|---|");
    for r in &done {
        let secs = median(r);
        let base = r
            .baseline
            .as_ref()
            .map(|b| (b, done.iter().find(|x| &x.id == b)));
        let ratio = match base {
            None if done.iter().any(|x| x.baseline.as_ref() == Some(&r.id)) => {
                "(baseline)".to_string()
            }
            None => "-".to_string(),
            Some((b, None)) => format!("- ({b} not run)"),
            Some((b, Some(x))) => {
                let own = r.work.amount() / secs;
                let theirs = x.work.amount() / median(x);
                let short = b.split_once('/').map_or(b.as_str(), |(_, s)| s);
                format!("{:.2}x {short}", own / theirs)
            }
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
