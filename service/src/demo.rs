//! The demo data set (PRODUCT.md, "Demo data"): Acme Networks, its partners, their users and a
//! published room of content for every persona. Tests and documentation rely on it.

use crate::audit::{self, AuditEntry};
use crate::auth;
use crate::error::{ServiceError, ServiceResult};
use crate::markdown;
use crate::portal::Portal;
use sqlx::Row;

/// The demo's channel program (RULES.md tiers and plans).
pub const DEMO_PROGRAM: &str = include_str!("../../demo/acme-partner-program.toml");

/// Facts that put each partner where PRODUCT.md says: (partner, revenue in cents over the last
/// year, certified people, won deals).
const DEMO_FACTS: [(&str, i64, usize, usize); 4] = [
    ("Northwind Systems", 26_250_000, 3, 5),
    ("Contoso Distribution", 125_000_000, 6, 12),
    ("Fabrikam IT", 8_000_000, 1, 2),
    ("Tailspin Tech", 1_200_000, 0, 0),
];

/// Every demo user's password.
pub const DEMO_PASSWORD: &str = "atrium-demo-2026";

/// What `atrium demo` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoOutcome {
    /// The demo was loaded into an empty database.
    Loaded,
    /// The demo was already there; nothing changed.
    AlreadyPresent,
}

const TIERS: [(i64, &str); 4] = [(0, "Registered"), (1, "Silver"), (2, "Gold"), (3, "Platinum")];

/// (name, partner type, region, tier rank, distributor name)
const PARTNERS: [(&str, &str, &str, i64, Option<&str>); 4] = [
    ("Northwind Systems", "reseller", "na", 2, None),
    ("Contoso Distribution", "distributor", "emea", 3, None),
    (
        "Fabrikam IT",
        "tier_two_reseller",
        "emea",
        1,
        Some("Contoso Distribution"),
    ),
    ("Tailspin Tech", "referral", "apac", 0, None),
];

/// (e-mail, name, role, persona, organisation)
const USERS: [(&str, &str, &str, Option<&str>, &str); 12] = [
    (
        "admin@acme.test",
        "Avery Stone",
        "vendor_admin",
        None,
        "Acme Networks",
    ),
    (
        "cm@acme.test",
        "Casey Morgan",
        "channel_manager",
        None,
        "Acme Networks",
    ),
    (
        "publisher@acme.test",
        "Priya Shah",
        "content_publisher",
        None,
        "Acme Networks",
    ),
    (
        "finance@acme.test",
        "Felix Grant",
        "finance",
        None,
        "Acme Networks",
    ),
    (
        "admin@northwind.test",
        "Nora Wendt",
        "partner_admin",
        Some("sales"),
        "Northwind Systems",
    ),
    (
        "sales@northwind.test",
        "Sam Patel",
        "partner_user",
        Some("sales"),
        "Northwind Systems",
    ),
    (
        "presales@northwind.test",
        "Pat Lee",
        "partner_user",
        Some("presales"),
        "Northwind Systems",
    ),
    (
        "marketing@northwind.test",
        "Maya Cruz",
        "partner_user",
        Some("marketing"),
        "Northwind Systems",
    ),
    (
        "support@northwind.test",
        "Sol Rivera",
        "partner_user",
        Some("post_sales"),
        "Northwind Systems",
    ),
    (
        "admin@contoso.test",
        "Dana Kim",
        "partner_admin",
        Some("sales"),
        "Contoso Distribution",
    ),
    (
        "sales@fabrikam.test",
        "Fiona Brandt",
        "partner_user",
        Some("sales"),
        "Fabrikam IT",
    ),
    (
        "sales@tailspin.test",
        "Theo Nakamura",
        "partner_user",
        Some("sales"),
        "Tailspin Tech",
    ),
];

/// One demo item: room, kind, title, summary, body, personas, partner types, min tier, regions, published.
struct DemoItem {
    room: &'static str,
    kind: &'static str,
    title: &'static str,
    summary: &'static str,
    body: &'static str,
    personas: &'static str,
    partner_types: &'static str,
    min_tier: i64,
    regions: &'static str,
    published: bool,
}

macro_rules! item {
    ($room:literal, $kind:literal, $title:literal, $summary:literal, $body:literal,
     personas: $p:literal, types: $t:literal, tier: $tier:literal, regions: $r:literal, published: $pub:literal) => {
        DemoItem {
            room: $room,
            kind: $kind,
            title: $title,
            summary: $summary,
            body: $body,
            personas: $p,
            partner_types: $t,
            min_tier: $tier,
            regions: $r,
            published: $pub,
        }
    };
}

const ITEMS: &[DemoItem] = &[
    // Sales room
    item!("sales", "playbook", "Selling Acme SD-WAN to mid-market retail",
        "A five-step play for retailers with 20–200 stores who are tired of MPLS bills.",
        "## Who to call\n\nIT directors at retailers with **20–200 stores** and an MPLS contract ending within 12 months.\n\n## The five steps\n\n1. Ask for the last three MPLS invoices.\n2. Run the Acme savings calculator with them.\n3. Offer a two-store pilot on Edge 500.\n4. Register the deal before the pilot starts: protection begins at approval.\n5. Close on the fleet roll-out with a three-year Cloud Fabric subscription.\n\n> Retailers who piloted in 2026 converted at 41 %.",
        personas: "sales", types: "", tier: 0, regions: "", published: true),
    item!("sales", "battlecard", "Acme vs. Globex Edge: win the price conversation",
        "Globex quotes low on hardware and makes it back on licences. Show the three-year total.",
        "## Their pitch\n\nGlobex Edge lists 18 % below Edge 500 hardware.\n\n## Our answer\n\n| Three-year cost, 50 sites | Acme | Globex |\n|---|---:|---:|\n| Hardware | 120,000.00 | 98,400.00 |\n| Licences | 90,000.00 | 151,200.00 |\n| **Total** | **210,000.00** | **249,600.00** |\n\nAsk: *\"What does year two cost?\"*",
        personas: "presales,sales", types: "", tier: 0, regions: "", published: true),
    item!("sales", "price_list", "Q4 2026 partner price list",
        "Partner buy prices for Edge, Cloud Fabric and support, valid until 31 December.",
        "## How to read it\n\nPrices are your **buy price in USD** before tier discount. Silver partners and above receive their tier discount on the invoice.\n\n* Edge 300: 640.00\n* Edge 500: 1,480.00\n* Cloud Fabric, per site per month: 42.00\n* Premier support: 18 % of list",
        personas: "sales", types: "", tier: 1, regions: "", published: true),
    item!("sales", "announcement", "Deal-registration deadline for Q4: 18 December",
        "Register Q4 opportunities by 18 December to have a decision before the holidays.",
        "Channel managers decide every registration within **48 hours**. Registrations submitted after 18 December are decided in January, so register early to keep your protection period.",
        personas: "", types: "", tier: 0, regions: "", published: true),
    item!("sales", "playbook", "From renewal to upgrade: moving customers to Cloud Fabric",
        "Turn support renewals into Cloud Fabric subscriptions with a 90-day trial offer.",
        "## When\n\nSix months before a support renewal.\n\n## Offer\n\nA 90-day Cloud Fabric trial on up to ten sites, converting to a subscription that replaces the support contract.\n\n## Talk track\n\n*\"Your renewal pays for most of the subscription, and you get analytics and zero-touch provisioning.\"*",
        personas: "sales", types: "", tier: 0, regions: "", published: true),
    item!("sales", "competitive_insight", "Initech Wireless price cuts: what they mean for you",
        "Initech cut access-point prices by 12 %. Here is where we still win and where to walk away.",
        "Initech's cut applies to **indoor access points only**. We still win on:\n\n* multi-site management in one console,\n* the five-year warranty,\n* bundled SD-WAN.\n\nWalk away from single-site, access-point-only deals below 10,000.00.",
        personas: "sales", types: "", tier: 0, regions: "", published: true),
    item!("sales", "playbook", "Strategic accounts: the Platinum co-selling play",
        "How Platinum partners co-sell with Acme account teams on Fortune 1000 accounts.",
        "Platinum partners get a named Acme account executive for joint account plans. Book the quarterly planning session with your channel manager.",
        personas: "sales", types: "", tier: 3, regions: "", published: true),
    item!("sales", "price_list", "2027 pricing preview",
        "Draft: list-price changes planned for January 2027.",
        "Not final. Edge 500 list price rises 4 %; Cloud Fabric is unchanged.",
        personas: "sales", types: "", tier: 0, regions: "", published: false),
    // Presales room
    item!("presales", "playbook", "Designing a three-site SD-WAN proof of concept",
        "A proof of concept that fits in two weeks and answers the questions buyers actually ask.",
        "## Scope\n\nHeadquarters plus two branches, one with LTE back-up.\n\n## Success criteria\n\n- Failover under one second on the LTE branch\n- Application steering for voice\n- Zero-touch provisioning of the third site\n\nUse the PoC checklist in the demo lab.",
        personas: "presales", types: "", tier: 0, regions: "", published: true),
    item!("presales", "training", "Acme Certified Network Architect: exam guide",
        "What the ACNA exam covers, how to prepare, and how certified people lift your tier.",
        "The ACNA exam has **60 questions in 90 minutes**; the pass mark is 70 %.\n\nEvery certified person counts towards your tier's `certified_people` criterion for the two years the certificate is valid.",
        personas: "presales", types: "", tier: 0, regions: "", published: true),
    item!("presales", "battlecard", "Technical objections: Globex Edge throughput claims",
        "Globex quotes throughput with encryption off. Ask for the IMIX figure with AES-256.",
        "| Test | Acme Edge 500 | Globex Edge |\n|---|---:|---:|\n| 1,518-byte, no encryption | 10 Gb/s | 10 Gb/s |\n| IMIX, AES-256 | 4.2 Gb/s | 2.1 Gb/s |\n\nBring the independent test report to the technical evaluation.",
        personas: "presales,sales", types: "", tier: 0, regions: "", published: true),
    item!("presales", "market_insight", "Zero-trust adoption in the mid-market: 2026 survey",
        "Two thirds of mid-market buyers plan a zero-trust project within 18 months.",
        "Survey of 1,200 IT leaders:\n\n* 66 % plan zero-trust network access within 18 months\n* 48 % want it bundled with SD-WAN\n* Budget owner: the network team in 58 % of cases",
        personas: "", types: "", tier: 0, regions: "", published: true),
    item!("presales", "playbook", "Sizing Cloud Fabric for hybrid workloads",
        "Rules of thumb for sizing Cloud Fabric gateways when half the traffic goes to the cloud.",
        "Start with one gateway pair per region and **2 Gb/s per 1,000 users**. Add a pair when sustained utilisation passes 60 %.",
        personas: "presales", types: "", tier: 0, regions: "", published: true),
    item!("presales", "announcement", "New demo-lab slots for Gold and Platinum partners",
        "Book remote demo-lab time for customer workshops, now bookable two weeks ahead.",
        "Gold and Platinum partners can book up to **eight lab hours a month**. Bookings open fourteen days ahead.",
        personas: "presales", types: "", tier: 2, regions: "", published: true),
    item!("presales", "training", "Firmware 9.0 migration guide",
        "Draft: upgrade paths and known issues for firmware 9.0.",
        "Draft for review by the product team.",
        personas: "presales,post_sales", types: "", tier: 0, regions: "", published: false),
    // Marketing room
    item!("marketing", "playbook", "Run a 30-day SD-WAN webinar campaign",
        "Invitation copy, a three-mail nurture sequence and a landing page, ready to brand.",
        "## Week by week\n\n1. Week 1: send the invitation to your installed base.\n2. Week 2: reminder plus a customer story.\n3. Week 3: the live webinar.\n4. Week 4: follow-up offer of a site survey.\n\nCampaign assets qualify for market-development funds.",
        personas: "marketing", types: "", tier: 0, regions: "", published: true),
    item!("marketing", "market_insight", "Retail networking spend outlook 2027",
        "Retail network budgets grow 7 % in 2027, led by store Wi-Fi and SD-WAN refreshes.",
        "Analyst consensus for 2027:\n\n* Total retail networking spend up **7 %**\n* SD-WAN refreshes drive a third of the growth\n* Buyers prefer subscriptions over capital purchases",
        personas: "", types: "", tier: 0, regions: "", published: true),
    item!("marketing", "announcement", "Co-marketing funds open for Q1 2027",
        "Submit Q1 campaign plans by 15 January to draw on your market-development funds.",
        "Funds are allocated by tier. Submit a plan with objectives, audience and budget; approved plans are reimbursed against proof of execution.",
        personas: "marketing", types: "reseller,distributor,tier_two_reseller,msp", tier: 0, regions: "", published: true),
    item!("marketing", "training", "Using the Acme brand: logo and messaging guide",
        "How to show the Acme logo beside yours, and the three messages we use everywhere.",
        "## Messages\n\n1. *One network, every site.*\n2. *Exact costs, no surprises.*\n3. *Secure by default.*\n\nKeep clear space of one logo height around the Acme mark.",
        personas: "", types: "", tier: 0, regions: "", published: true),
    item!("marketing", "competitive_insight", "How Globex markets to managed-service providers",
        "Globex leads with margin guarantees. Our answer: recurring revenue you own.",
        "Globex offers MSPs a guaranteed 30 % margin for year one only. Acme's Cloud Fabric pays **recurring margin every year** of the subscription.",
        personas: "marketing", types: "msp,reseller", tier: 0, regions: "", published: true),
    item!("marketing", "market_insight", "EMEA public-sector opportunity brief",
        "Framework agreements opening in 2027 across the UK, Germany and the Nordics.",
        "Three frameworks open for bids in Q2 2027. Acme holds the security certifications required for all three.",
        personas: "", types: "", tier: 0, regions: "emea", published: true),
    item!("marketing", "playbook", "Spring launch kit",
        "Draft: social posts and banners for the spring product launch.",
        "Assets arrive in February.",
        personas: "marketing", types: "", tier: 0, regions: "", published: false),
    // Post-sales room
    item!("post-sales", "playbook", "The first 90 days with a new Acme customer",
        "Onboarding milestones that make renewals easy: day 1, day 30 and day 90.",
        "* **Day 1**: kick-off, admin accounts, escalation contacts.\n* **Day 30**: health check and first usage report.\n* **Day 90**: business review with the sponsor.",
        personas: "post_sales", types: "", tier: 0, regions: "", published: true),
    item!("post-sales", "training", "Troubleshooting tunnel flaps on Edge 500",
        "A decision tree for the most common support case, with the commands to run.",
        "1. Check the underlay: `show interface wan1 stats`.\n2. Look for MTU mismatches: `ping -s 1472 -M do`.\n3. Collect `tech-support` before opening a case.",
        personas: "post_sales,presales", types: "", tier: 0, regions: "", published: true),
    item!("post-sales", "announcement", "Support portal maintenance: 7 December",
        "The support portal is read-only from 02:00 to 04:00 UTC on 7 December.",
        "Open urgent cases by phone during the window.",
        personas: "", types: "", tier: 0, regions: "", published: true),
    item!("post-sales", "playbook", "Renewal health checks that prevent churn",
        "Six signals that a customer is at risk, and what to do about each one.",
        "| Signal | Action |\n|---|---|\n| Falling usage | Schedule a training session |\n| Open P1 cases | Escalate to your channel manager |\n| Sponsor left | Find the new sponsor within two weeks |",
        personas: "post_sales,sales", types: "", tier: 0, regions: "", published: true),
    item!("post-sales", "market_insight", "What customers ask support most: Q3 review",
        "The ten most common questions from customers last quarter, with links to answers.",
        "Top three: licence transfers, LTE back-up set-up and firmware schedules.",
        personas: "post_sales", types: "", tier: 0, regions: "", published: true),
    item!("post-sales", "training", "Managed-service runbook for Cloud Fabric",
        "Monitoring, alerting and monthly reporting for MSPs running Cloud Fabric for customers.",
        "Set alert thresholds at 80 % of gateway capacity and send the monthly report on the first working day.",
        personas: "", types: "msp", tier: 0, regions: "", published: true),
    item!("post-sales", "announcement", "End-of-life notice: Edge 300",
        "Draft: Edge 300 reaches end of sale in June 2027.",
        "Draft for legal review.",
        personas: "", types: "", tier: 0, regions: "", published: false),
];

impl Portal {
    /// Loads the demo data into an empty database. Running it again is harmless; running it
    /// on a database with other data is refused.
    pub async fn load_demo(&self) -> ServiceResult<DemoOutcome> {
        let orgs: Vec<String> = sqlx::query_scalar("SELECT name FROM organisations")
            .fetch_all(self.pool())
            .await?;
        if orgs.iter().any(|n| n == "Acme Networks") {
            return Ok(DemoOutcome::AlreadyPresent);
        }
        if !orgs.is_empty() {
            return Err(ServiceError::Conflict(
                "the database already has other data; the demo loads only into an empty database".into(),
            ));
        }
        // Demo users share one hash: their password is published anyway, and hashing twelve
        // times would only slow every test that loads the demo.
        let phc = tokio::task::spawn_blocking(|| auth::hash_password(DEMO_PASSWORD))
            .await
            .map_err(|e| ServiceError::Internal(e.into()))??;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        for (rank, name) in TIERS {
            sqlx::query("INSERT INTO tiers (rank, name) VALUES ($1, $2)")
                .bind(rank)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO organisations (name, kind, created_at) VALUES ('Acme Networks', 'vendor', $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (name, partner_type, region, tier, distributor) in PARTNERS {
            let distributor_id: Option<i64> = match distributor {
                Some(d) => Some(
                    sqlx::query_scalar("SELECT id FROM organisations WHERE name = $1")
                        .bind(d)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
                None => None,
            };
            sqlx::query(
                "INSERT INTO organisations (name, kind, partner_type, region, tier_rank, distributor_id, created_at) \
                 VALUES ($1, 'partner', $2, $3, $4, $5, $6)",
            )
            .bind(name)
            .bind(partner_type)
            .bind(region)
            .bind(tier)
            .bind(distributor_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let mut publisher_id = None;
        for (email, name, role, persona, org) in USERS {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (organisation_id, email, display_name, password_hash, role, persona, created_at) \
                 SELECT id, $1, $2, $3, $4, $5, $6 FROM organisations WHERE name = $7 RETURNING id",
            )
            .bind(email)
            .bind(name)
            .bind(&phc)
            .bind(role)
            .bind(persona)
            .bind(now)
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
            if role == "content_publisher" {
                publisher_id = Some(id);
            }
        }
        const DAY: i64 = 86_400_000;
        for (age, item) in ITEMS.iter().enumerate() {
            // Spread publication over the last three months so only the newest few count as new.
            let stamp = now - (age as i64 * 3 + 1) * DAY;
            sqlx::query(
                "INSERT INTO content_items (room, kind, title, summary, body_markdown, body_html, status, \
                 audience_personas, audience_partner_types, audience_min_tier, audience_regions, author_id, \
                 created_at, updated_at, published_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)",
            )
            .bind(item.room)
            .bind(item.kind)
            .bind(item.title)
            .bind(item.summary)
            .bind(item.body)
            .bind(markdown::render(item.body))
            .bind(if item.published { "published" } else { "draft" })
            .bind(item.personas)
            .bind(item.partner_types)
            .bind(item.min_tier)
            .bind(item.regions)
            .bind(publisher_id)
            .bind(stamp)
            .bind(item.published.then_some(stamp))
            .execute(&mut *tx)
            .await?;
        }
        // The program applies from the start of the year; the facts fall within the last year.
        let today = domain::calendar::Date::from_unix_millis(now);
        let year_start = domain::calendar::Date::new(today.year(), 1, 1).expect("1 January exists");
        sqlx::query(
            "INSERT INTO program_versions (effective_from, document, created_at) VALUES ($1, $2, $3)",
        )
        .bind(year_start.to_string())
        .bind(DEMO_PROGRAM)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        const LINES: [&str; 3] = ["hardware", "cloud", "services"];
        for (name, revenue, people, deals) in DEMO_FACTS {
            let partner_id: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            // Revenue in five sales spread over the last ten months; the last one takes the rest.
            for i in 0..5i64 {
                let amount = if i < 4 {
                    revenue / 5
                } else {
                    revenue - 4 * (revenue / 5)
                };
                sqlx::query(
                    "INSERT INTO sales (external_id, partner_id, booked_on, product_line, amount_minor, currency, \
                     customer_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'USD', $6, $7, $7)",
                )
                .bind(format!("DEMO-{partner_id}-{i}"))
                .bind(partner_id)
                .bind(today.add_days(-(i * 60 + 10)).to_string())
                .bind(LINES[i as usize % LINES.len()])
                .bind(amount)
                .bind(format!("Demo customer {}", i + 1))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for i in 0..people {
                sqlx::query(
                    "INSERT INTO certifications (partner_id, person, code, earned_on, expires_on, created_at) \
                     VALUES ($1, $2, 'ACNA', $3, $4, $5)",
                )
                .bind(partner_id)
                .bind(format!("{name} engineer {}", i + 1))
                .bind(today.add_days(-200).to_string())
                .bind(today.add_days(530).to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for i in 0..deals {
                sqlx::query("INSERT INTO won_deals (partner_id, reference, won_on, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(partner_id)
                    .bind(format!("DEMO-DEAL-{partner_id}-{i}"))
                    .bind(today.add_days(-(i as i64 * 20 + 5)).to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: None,
                action: "demo.load",
                entity_type: "database",
                entity_id: "demo".into(),
                before: None,
                after: Some(serde_json::json!({ "users": users, "content_items": ITEMS.len() })),
            },
        )
        .await?;
        // Casey Morgan looks after every partner: deal decisions go to her.
        sqlx::query(
            "UPDATE organisations SET channel_manager_id = (SELECT id FROM users WHERE email = 'cm@acme.test') \
             WHERE kind = 'partner'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Err(e) = self.load_business_calendar().await {
            tracing::error!(error = %e, "reading the demo program's time zone failed; the scheduler retries");
        }
        self.evaluate_all(self.today()).await?;
        self.load_demo_deals().await?;
        Ok(DemoOutcome::Loaded)
    }
}

impl Portal {
    /// Registrations that show every part of deal registration: one approved (on a reseller's
    /// behalf), one waiting, and a conflicting one beside it.
    async fn load_demo_deals(&self) -> ServiceResult<()> {
        use domain::deals::DealInput;
        let close = self.today().add_days(75).to_string();
        let deal =
            |name: &str, domain: &str, lines: &[&str], amount: &str, notes: &str, partner_id: Option<i64>| {
                DealInput {
                    customer_name: name.into(),
                    customer_domain: Some(domain.into()),
                    country: "US".into(),
                    product_lines: lines.iter().map(|l| l.to_string()).collect(),
                    amount: amount.into(),
                    expected_close_on: close.clone(),
                    notes: notes.into(),
                    partner_id,
                }
            };
        let contoso = self.actor_by_email("admin@contoso.test").await?;
        let fabrikam: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Fabrikam IT'")
            .fetch_one(self.pool())
            .await?;
        let initech = self
            .register_deal(
                &contoso,
                deal(
                    "Initech GmbH",
                    "initech.de",
                    &["hardware"],
                    "64000.00",
                    "Branch refresh, 40 sites.",
                    Some(fabrikam),
                ),
                true,
            )
            .await?;
        let cm = self.actor_by_email("cm@acme.test").await?;
        self.decide_deal(&cm, initech.id, true, "Welcome aboard.").await?;
        let northwind = self.actor_by_email("sales@northwind.test").await?;
        self.register_deal(
            &northwind,
            deal(
                "Globex Corporation",
                "www.globex.com",
                &["cloud", "hardware"],
                "120000.00",
                "Replacing their Globex Edge fleet.",
                None,
            ),
            true,
        )
        .await?;
        let fabrikam_sales = self.actor_by_email("sales@fabrikam.test").await?;
        self.register_deal(
            &fabrikam_sales,
            deal(
                "Globex Corp.",
                "globex.com",
                &["cloud"],
                "45000.00",
                "Cloud Fabric pilot.",
                None,
            ),
            true,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::content::{ContentKind, Room};
    use domain::identity::{PartnerType, Persona, Region};

    #[test]
    fn demo_items_use_valid_codes_and_fill_every_room() {
        for item in ITEMS {
            Room::parse(item.room, "room").unwrap();
            ContentKind::parse(item.kind, "kind").unwrap();
            for p in item.personas.split(',').filter(|s| !s.is_empty()) {
                Persona::parse(p, "persona").unwrap();
            }
            for t in item.partner_types.split(',').filter(|s| !s.is_empty()) {
                PartnerType::parse(t, "type").unwrap();
            }
            for r in item.regions.split(',').filter(|s| !s.is_empty()) {
                Region::parse(r, "region").unwrap();
            }
        }
        for room in Room::ALL {
            let published = ITEMS
                .iter()
                .filter(|i| i.room == room.as_str() && i.published)
                .count();
            let drafts = ITEMS
                .iter()
                .filter(|i| i.room == room.as_str() && !i.published)
                .count();
            assert!(published >= 5, "{room}: {published} published");
            assert!(drafts >= 1, "{room}: no draft");
        }
    }
}
