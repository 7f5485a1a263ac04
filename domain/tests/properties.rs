//! Invariants of the program engine, checked on random inputs.

use domain::calendar::Date;
use domain::facts::{Certification, PartnerFacts, Sale, WonDeal};
use domain::identity::TierRank;
use domain::metrics::{Metric, MetricKind};
use domain::money::apply_rate;
use domain::period::{FiscalCalendar, FiscalPeriod, Window};
use domain::rebates::{Accelerator, Band, RebatePlan, RebateStructure};
use domain::tiers::{Criterion, ReviewPolicy, TierDefinition, TierLadder};
use proptest::prelude::*;

const Q2: FiscalPeriod = FiscalPeriod {
    year: 2026,
    quarter: 2,
};

fn sale(line: &str, amount: i64) -> Sale {
    Sale {
        external_id: String::new(),
        partner_id: 1,
        distributor_id: None,
        booked_on: Date::new(2026, 5, 1).unwrap(),
        product_line: line.into(),
        amount_minor: amount,
    }
}

/// Ascending bands starting at 0 with non-decreasing rates.
fn bands() -> impl Strategy<Value = Vec<Band>> {
    prop::collection::vec((1i64..50_000_000, 0i64..1_500), 0..4).prop_map(|steps| {
        let mut threshold = 0;
        let mut rate = 100;
        let mut out = vec![Band {
            threshold: 0,
            rate_bps: rate,
        }];
        for (gap, raise) in steps {
            threshold += gap;
            rate += raise;
            out.push(Band {
                threshold,
                rate_bps: rate,
            });
        }
        out
    })
}

fn plan(structure: RebateStructure) -> RebatePlan {
    RebatePlan {
        id: "p".into(),
        name: "p".into(),
        product_lines: vec![],
        structure,
        min_basis: None,
        cap: None,
        accelerators: vec![],
        minor_digits: 2,
    }
}

proptest! {
    #[test]
    fn incremental_never_pays_more_than_retroactive_on_the_same_bands(bands in bands(), basis in -1_000_000i64..200_000_000) {
        let sales = [sale("hardware", basis)];
        let incremental = plan(RebateStructure::Incremental { bands: bands.clone() }).calculate(Q2, &sales, None, vec![]);
        let retroactive = plan(RebateStructure::Retroactive { bands }).calculate(Q2, &sales, None, vec![]);
        // Each incremental band rounds separately: allow half a cent per band.
        prop_assert!(incremental.total <= retroactive.total + incremental.lines.len() as i64);
    }

    #[test]
    fn rebates_grow_with_the_basis_without_a_cap(bands in bands(), a in 0i64..200_000_000, extra in 0i64..50_000_000) {
        for structure in [
            RebateStructure::Incremental { bands: bands.clone() },
            RebateStructure::Retroactive { bands: bands.clone() },
            RebateStructure::Flat { rate_bps: bands.last().unwrap().rate_bps },
        ] {
            let p = plan(structure);
            let low = p.calculate(Q2, &[sale("hardware", a)], None, vec![]).total;
            let high = p.calculate(Q2, &[sale("hardware", a + extra)], None, vec![]).total;
            prop_assert!(high >= low, "{low} > {high}");
        }
    }

    #[test]
    fn statement_lines_always_add_up_to_the_total(
        bands in bands(),
        hardware in -5_000_000i64..100_000_000,
        cloud in -5_000_000i64..100_000_000,
        multiplier in 1i64..30_000,
        cap in proptest::option::of(1i64..5_000_000),
        min_basis in proptest::option::of(0i64..20_000_000),
        adjustment in -100_000i64..100_000,
    ) {
        let sales = [sale("hardware", hardware), sale("cloud", cloud)];
        let mut p = plan(RebateStructure::Retroactive { bands });
        p.cap = cap;
        p.min_basis = min_basis;
        p.accelerators = vec![Accelerator { product_line: "cloud".into(), multiplier_bps: multiplier }];
        let adjustments = domain::rebates::restatement(Q2.previous(), 0, adjustment).into_iter().collect();
        let calc = p.calculate(Q2, &sales, None, adjustments);
        prop_assert_eq!(calc.lines.iter().map(|l| l.amount).sum::<i64>(), calc.total);
        if let Some(cap) = cap {
            prop_assert!(calc.total - adjustment <= cap, "the cap applies before adjustments");
        }
    }

    #[test]
    fn rounding_loses_at_most_half_a_minor_unit_per_line(amount in -1_000_000_000_000i64..1_000_000_000_000, rate in 0i64..10_000, multiplier in 0i64..40_000) {
        let rounded = apply_rate(amount, rate, multiplier);
        let exact = i128::from(amount) * i128::from(rate) * i128::from(multiplier);
        let error = (i128::from(rounded) * 100_000_000 - exact).abs();
        prop_assert!(error * 2 <= 100_000_000, "error {error} / 10^8");
    }

    #[test]
    fn the_qualified_tier_never_falls_when_a_metric_rises(
        revenue in 0i64..200_000_000,
        more_revenue in 0i64..100_000_000,
        people in 0usize..8,
        more_people in 0usize..4,
        deals in 0usize..12,
        more_deals in 0usize..6,
    ) {
        let ladder = ladder();
        let as_of = Date::new(2026, 6, 30).unwrap();
        let low = Owned::new(revenue, people, deals);
        let high = Owned::new(revenue + more_revenue, people + more_people, deals + more_deals);
        let q_low = ladder.qualify(&low.facts(), as_of).qualified;
        let q_high = ladder.qualify(&high.facts(), as_of).qualified;
        prop_assert!(q_high >= q_low);
    }
}

fn ladder() -> TierLadder {
    let c = |kind, threshold| Criterion {
        metric: Metric::new(kind, Window::TrailingMonths(12)),
        threshold,
    };
    let tier = |rank: u8, revenue: i64, people: i64, deals: i64| TierDefinition {
        rank: TierRank(rank),
        name: format!("T{rank}"),
        criteria: vec![
            c(MetricKind::Revenue, revenue),
            c(MetricKind::CertifiedPeople, people),
            c(MetricKind::DealsWon, deals),
        ],
    };
    TierLadder {
        tiers: vec![
            TierDefinition {
                rank: TierRank(0),
                name: "T0".into(),
                criteria: vec![],
            },
            tier(1, 5_000_000, 1, 1),
            tier(2, 25_000_000, 3, 5),
            tier(3, 100_000_000, 5, 10),
        ],
        calendar: FiscalCalendar::default(),
        review: ReviewPolicy::default(),
    }
}

struct Owned {
    sales: Vec<Sale>,
    deals: Vec<WonDeal>,
    certs: Vec<Certification>,
}

impl Owned {
    fn new(revenue: i64, people: usize, deals: usize) -> Self {
        let on = Date::new(2026, 3, 1).unwrap();
        Owned {
            sales: vec![sale("hardware", revenue)],
            deals: (0..deals)
                .map(|_| WonDeal {
                    partner_id: 1,
                    won_on: on,
                })
                .collect(),
            certs: (0..people)
                .map(|i| Certification {
                    partner_id: 1,
                    person: i.to_string(),
                    code: "ACNA".into(),
                    earned_on: Date::new(2025, 1, 1).unwrap(),
                    expires_on: Date::new(2028, 1, 1).unwrap(),
                })
                .collect(),
        }
    }

    fn facts(&self) -> PartnerFacts<'_> {
        PartnerFacts {
            partner_id: 1,
            sales: &self.sales,
            sold_through: &[],
            won_deals: &self.deals,
            certifications: &self.certs,
        }
    }
}
