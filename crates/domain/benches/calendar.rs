//! Benchmarks of the calendar arithmetic on the shipped 100-year Vietnamese calendar
//! (2000–2100): due time and elapsed working time at random instants and budgets (target:
//! p50 under 1 µs), and the compile time of the calendar itself.
//!
//! Run with `cargo bench -p dunghan-domain --bench calendar`.

// Benchmarks fail loudly on a bad fixture; the workspace has no clippy.toml allowing it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use chrono::DateTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dunghan_domain::calendar::{vietnam_spec, Calendar};
use dunghan_domain::{CalendarId, WorkingTime};

/// A small deterministic generator (xorshift64*), so runs compare without a `rand` crate.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn calendar() -> Calendar {
    Calendar::compile(vietnam_spec(CalendarId::new("vn").unwrap())).unwrap()
}

/// Random instants between 2001 and 2099, and budgets up to 30 working days.
fn cases(n: usize) -> Vec<(DateTime<chrono::Utc>, DateTime<chrono::Utc>, WorkingTime)> {
    let start = DateTime::parse_from_rfc3339("2001-01-01T00:00:00+07:00")
        .unwrap()
        .timestamp();
    let end = DateTime::parse_from_rfc3339("2099-01-01T00:00:00+07:00")
        .unwrap()
        .timestamp();
    let span = u64::try_from(end - start).unwrap();
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            let from = start + i64::try_from(random.below(span)).unwrap();
            let to = from + i64::try_from(random.below(90 * 86_400)).unwrap();
            let budget = WorkingTime::seconds(i64::try_from(random.below(30 * 8 * 3600)).unwrap());
            (
                DateTime::from_timestamp(from, 0).unwrap(),
                DateTime::from_timestamp(to, 0).unwrap(),
                budget,
            )
        })
        .collect()
}

fn arithmetic(c: &mut Criterion) {
    let calendar = calendar();
    let cases = cases(4096);
    let mut index = 0;
    c.bench_function("due_at (100-year VN calendar)", |b| {
        b.iter(|| {
            let (start, _, budget) = cases[index % cases.len()];
            index += 1;
            black_box(calendar.due_at(black_box(start), black_box(budget)))
        })
    });
    c.bench_function("elapsed (100-year VN calendar)", |b| {
        b.iter(|| {
            let (from, to, _) = cases[index % cases.len()];
            index += 1;
            black_box(calendar.elapsed(black_box(from), black_box(to)))
        })
    });
    c.bench_function("next_opening (100-year VN calendar)", |b| {
        b.iter(|| {
            let (from, _, _) = cases[index % cases.len()];
            index += 1;
            black_box(calendar.next_opening(black_box(from)))
        })
    });
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    group.bench_function("compile 100-year VN calendar", |b| {
        b.iter_batched(
            || vietnam_spec(CalendarId::new("vn").unwrap()),
            |spec| black_box(Calendar::compile(spec).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, arithmetic, compile);
criterion_main!(benches);
