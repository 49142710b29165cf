//! Thread-count defaults.

use std::collections::HashSet;

/// Physical cores (distinct core ids per package), falling back to the logical CPU count.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cores = HashSet::new();
    for cpu in 0..logical.max(1) * 4 {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let read = |f: &str| std::fs::read_to_string(format!("{base}/{f}")).ok();
        if let (Some(pkg), Some(core)) = (read("physical_package_id"), read("core_id")) {
            cores.insert((pkg.trim().to_string(), core.trim().to_string()));
        }
    }
    // Affinity masks (containers) can allow fewer CPUs than exist.
    match cores.len() {
        0 => logical,
        n => n.min(logical),
    }
}
