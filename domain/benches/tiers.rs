//! Tier evaluation at scale: 10,000 partners over 1,000,000 sales (plus won deals and
//! certifications), against the raw time of one pass summing the same sales per partner,
//! measured in the same run. Target: evaluation ≤ 3× the baseline.
//!
//! Run: `cargo bench -p domain --bench tiers`

use domain::calendar::Date;
use domain::facts::{Certification, PartnerFacts, Sale, WonDeal};
use domain::program::Program;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PARTNERS: usize = 10_000;
const SALES: usize = 1_000_000;

/// A small deterministic generator, so every run measures the same data.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let program = Program::from_toml(include_str!("../../demo/acme-partner-program.toml")).unwrap();
    let ladder = &program.ladder;
    let as_of = Date::new(2026, 6, 30).unwrap();
    let first_day = Date::new(2024, 7, 1).unwrap().days_since_epoch();
    let mut rng = Lcg(42);
    let lines = ["hardware", "cloud", "services"];

    // Sales grouped by partner, as storage returns them for an evaluation run.
    let mut sales: Vec<Sale> = (0..SALES)
        .map(|i| Sale {
            external_id: format!("S{i}"),
            partner_id: (rng.next() % PARTNERS as u64) as i64,
            distributor_id: None,
            booked_on: Date::from_days_since_epoch(first_day + (rng.next() % 730) as i64),
            product_line: lines[(rng.next() % 3) as usize].to_owned(),
            amount_minor: (rng.next() % 2_000_000) as i64 - 100_000,
        })
        .collect();
    sales.sort_by_key(|s| s.partner_id);
    let deals: Vec<Vec<WonDeal>> = (0..PARTNERS)
        .map(|p| {
            (0..rng.next() % 15)
                .map(|_| WonDeal {
                    partner_id: p as i64,
                    won_on: as_of.add_days(-((rng.next() % 500) as i64)),
                })
                .collect()
        })
        .collect();
    let certs: Vec<Vec<Certification>> = (0..PARTNERS)
        .map(|p| {
            (0..rng.next() % 8)
                .map(|i| Certification {
                    partner_id: p as i64,
                    person: format!("person-{i}"),
                    code: "ACNA".into(),
                    earned_on: as_of.add_days(-((rng.next() % 700) as i64)),
                    expires_on: as_of.add_days((rng.next() % 700) as i64 - 100),
                })
                .collect()
        })
        .collect();
    let mut bounds = vec![0usize; PARTNERS + 1];
    for s in &sales {
        bounds[s.partner_id as usize + 1] += 1;
    }
    for p in 0..PARTNERS {
        bounds[p + 1] += bounds[p];
    }

    let baseline = best_of(5, || {
        let mut totals = vec![0i64; PARTNERS];
        for s in &sales {
            totals[s.partner_id as usize] += s.amount_minor;
        }
        totals
    });
    let mut tier_counts = [0usize; 4];
    let evaluation = best_of(5, || {
        tier_counts = [0; 4];
        for p in 0..PARTNERS {
            let facts = PartnerFacts {
                partner_id: p as i64,
                sales: &sales[bounds[p]..bounds[p + 1]],
                sold_through: &[],
                won_deals: &deals[p],
                certifications: &certs[p],
            };
            let q = ladder.qualify(&facts, as_of);
            tier_counts[q.qualified.0 as usize] += 1;
        }
    });
    let ratio = evaluation.as_secs_f64() / baseline.as_secs_f64();
    println!("tier evaluation: {PARTNERS} partners, {SALES} sales (best of 5)");
    println!(
        "  baseline, one pass summing sales per partner: {:>8.2} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "  qualified tier + every criterion, all partners: {:>8.2} ms",
        evaluation.as_secs_f64() * 1e3
    );
    println!("  ratio: {ratio:.2}× (target ≤ 3×)");
    println!("  partners per tier (Registered, Silver, Gold, Platinum): {tier_counts:?}");
}
