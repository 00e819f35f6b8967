//! A month of demo history: what the two demo vendors' shops went through in
//! the 30 days before the first start, so that their lists, unread counts and
//! analytics (`GET /api/vendor/analytics`) show something worth reading.
//!
//! [`plan`] is pure: from the time of the first start and a seed it draws
//! (with a seeded RNG, so every first start tells the same story, shifted to
//! its own "now") one script per conversation: who starts it, from which
//! product, when, and each later message and read receipt with its time.
//! The demo's seeding (`record` in the parent module) then runs the scripts
//! through the conversations' actors
//! ([`souk_actors::ConversationRegistry::execute`]) exactly like live traffic:
//! `decide` and `evolve` judge every command, the log records and chains
//! every event, and the read models and replay see nothing special about them.
//!
//! # How past times are recorded
//!
//! Commands carry their time (`at`): the domain never reads a clock, and the
//! analytics use the events' `at`, not the log's. Live routes put
//! `Timestamp::now()` in the commands they build (`crate::service`); the
//! history builds its commands itself with the scripted past times and hands
//! them to the same actors. Nothing else changes: no second way into the log,
//! no clock to fake, no time argument on the service routes that a caller
//! could misuse. (Appending events made by `decide` straight to the store
//! before the actors start would have worked too, but it would be a second
//! writer of the log to keep in step with the actors' rules.) The log's own
//! `recorded_at` of these events is honest: the time of the first start;
//! the events' `at` is the scripted past.
//!
//! # The story
//!
//! Customers write at the hours people shop (evenings and lunch time, more on
//! weekends). Vendors answer between 08:00 and 22:00 UTC: a question at night
//! waits for the morning. Bolt Bikes answered slowly at the start of the
//! month (a median of about two and a half hours) and got faster (about
//! twenty minutes by the end), and lets some recent questions and thank-yous
//! go unread (its unread backlog). Lumen Home answers within minutes to an
//! hour and reads everything (no backlog). Message ids are UUIDv7 of the
//! message's time with random bits from the same RNG, and every message has
//! a `clientMessageId` (`demo-h-...`).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use souk_domain::Role;

use super::{DemoProduct, DemoUser, CUSTOMERS, PRODUCTS, VENDORS};

/// The RNG seed of the story.
pub const SEED: u64 = 0x050C_2026;

/// How far back the history goes: the analytics' default window (30 UTC
/// dates, the oldest from midnight).
pub const DAYS: i64 = 30;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Vendors answer from this hour (UTC, inclusive)...
const OPENS: i64 = 8;
/// ...to this one (exclusive).
const CLOSES: i64 = 22;

/// Shoppers who appear only in the history (the sign-in page offers the
/// three customers of [`CUSTOMERS`]).
pub const SHOPPERS: [DemoUser; 20] = [
    DemoUser {
        id: "c-amara",
        name: "Amara Okafor",
    },
    DemoUser {
        id: "c-dmitri",
        name: "Dmitri Volkov",
    },
    DemoUser {
        id: "c-elena",
        name: "Elena Rossi",
    },
    DemoUser {
        id: "c-farah",
        name: "Farah Haddad",
    },
    DemoUser {
        id: "c-gustav",
        name: "Gustav Lind",
    },
    DemoUser {
        id: "c-hana",
        name: "Hana Sato",
    },
    DemoUser {
        id: "c-ines",
        name: "Inês Carvalho",
    },
    DemoUser {
        id: "c-jonas",
        name: "Jonas Weber",
    },
    DemoUser {
        id: "c-kemi",
        name: "Kemi Adeyemi",
    },
    DemoUser {
        id: "c-lucas",
        name: "Lucas Moreau",
    },
    DemoUser {
        id: "c-maya",
        name: "Maya Patel",
    },
    DemoUser {
        id: "c-nils",
        name: "Nils Berg",
    },
    DemoUser {
        id: "c-olivia",
        name: "Olivia Brown",
    },
    DemoUser {
        id: "c-priya",
        name: "Priya Nair",
    },
    DemoUser {
        id: "c-quinn",
        name: "Quinn Murphy",
    },
    DemoUser {
        id: "c-rosa",
        name: "Rosa Jiménez",
    },
    DemoUser {
        id: "c-sven",
        name: "Sven Olsen",
    },
    DemoUser {
        id: "c-tariq",
        name: "Tariq Aziz",
    },
    DemoUser {
        id: "c-uma",
        name: "Uma Reddy",
    },
    DemoUser {
        id: "c-yara",
        name: "Yara Nasser",
    },
];

/// A product a conversation starts from or a vendor shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: &'static str,
    pub name: &'static str,
    pub price_minor: i64,
    /// Relative to the server's origin.
    pub image_path: &'static str,
}

impl Item {
    const fn of(p: &DemoProduct) -> Self {
        Self {
            id: p.id,
            name: p.name,
            price_minor: p.price_minor,
            image_path: p.image_path,
        }
    }
}

/// Older catalogue items the history talks about besides [`PRODUCTS`] (they
/// are not in the shops' current list, so the sign-in page and the product
/// pickers do not offer them).
const BOLT_ARCHIVE: [Item; 3] = [
    Item {
        id: "p-backpack",
        name: "Waterproof commuter backpack",
        price_minor: 7_490,
        image_path: "/products/backpack.svg",
    },
    Item {
        id: "p-bike-lock",
        name: "Folding bike lock",
        price_minor: 3_490,
        image_path: "/products/lock.svg",
    },
    Item {
        id: "p-rear-rack",
        name: "Aluminium rear rack",
        price_minor: 4_500,
        image_path: "/products/rack.svg",
    },
];

const LUMEN_ARCHIVE: [Item; 2] = [
    Item {
        id: "p-vase",
        name: "Ceramic vase",
        price_minor: 3_900,
        image_path: "/products/vase.svg",
    },
    Item {
        id: "p-wool-throw",
        name: "Wool throw",
        price_minor: 7_900,
        image_path: "/products/throw.svg",
    },
];

/// What one step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A text message.
    Say(String),
    /// A product card with a caption.
    Share { item: Item, caption: String },
    /// Marks every message of the other side read.
    ReadAll,
}

/// One command of a script.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Milliseconds since the epoch.
    pub at: i64,
    pub by: Role,
    pub action: Action,
    /// The random part of the message id (v7), for messages.
    pub id_bits: [u8; 10],
}

/// One conversation's history.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub customer: &'static DemoUser,
    pub vendor: &'static DemoUser,
    pub product: Option<Item>,
    /// When the customer opened it (milliseconds since the epoch).
    pub started_at: i64,
    /// In time order, none before `started_at`, all before the plan's `now`.
    pub steps: Vec<Step>,
}

/// The lines of one shop. `{p}` is the conversation's product (or "it"),
/// `{name}` the customer's first name.
struct Lines {
    openers: &'static [&'static str],
    seconds: &'static [&'static str],
    answers: &'static [&'static str],
    follow_ups: &'static [&'static str],
    details: &'static [&'static str],
    thanks: &'static [&'static str],
    share_captions: &'static [&'static str],
}

const BOLT_LINES: Lines = Lines {
    openers: &[
        "Hi, is the {p} still in stock?",
        "Hello! What sizes does the {p} come in?",
        "Do you ship the {p} to Lisbon?",
        "Hi, can I pick up the {p} at the shop?",
        "Is there a discount on the {p} if I buy two?",
        "How long does delivery of the {p} take?",
        "Hello, is the {p} suitable for daily commuting?",
    ],
    seconds: &[
        "I'd need it before the weekend if possible.",
        "Also, do you take returns?",
        "It's a present, so gift wrapping would be great.",
    ],
    answers: &[
        "Hi {name}, yes, it's in stock and ships within two days.",
        "Hello {name}! We have it in S, M and L; M fits most riders.",
        "Yes, we deliver all over the EU, shipping is €9.",
        "Of course, the shop is open 9 to 18 on weekdays and 10 to 16 on Saturdays.",
        "We can do 10% off for two, I'll set it up for you.",
        "Delivery takes 2 to 3 working days.",
    ],
    follow_ups: &[
        "Great! Does it come assembled?",
        "Perfect. Can I pay on delivery?",
        "Is the colour exactly as in the photo?",
        "Could you hold one for me until Saturday?",
        "What about the warranty?",
    ],
    details: &[
        "It comes 90% assembled, you only fit the pedals and the bars.",
        "Yes, card or cash on delivery.",
        "Yes, the photos are of the real item, taken outdoors.",
        "Done, it's on hold under your name until Saturday.",
        "Two years on the frame and parts, five on the welds.",
    ],
    thanks: &[
        "Thanks, ordered!",
        "Thank you, that helps a lot.",
        "Great, see you on Saturday.",
        "Thanks for the quick answer!",
    ],
    share_captions: &["This one goes well with it", "Many customers take this too"],
};

const LUMEN_LINES: Lines = Lines {
    openers: &[
        "Hi, what are the dimensions of the {p}?",
        "Hello, is the {p} available in another colour?",
        "Is the {p} handmade?",
        "Hi! Could the {p} be delivered to Berlin?",
        "Hello, how do I clean the {p}?",
        "Is the {p} back in stock soon?",
    ],
    seconds: &[
        "I'm furnishing a small flat, so size matters.",
        "And is it sold as a pair?",
    ],
    answers: &[
        "Hello {name}, it's 45 cm tall and 30 cm wide.",
        "Hi {name}, it also comes in sage and charcoal.",
        "Yes, every piece is made by hand in our workshop in Porto.",
        "We deliver to Germany within five working days.",
        "A soft dry cloth is all it needs, no detergents please.",
        "Yes, a new batch arrives next week.",
    ],
    follow_ups: &[
        "Lovely. Is delivery free?",
        "Can I return it if it doesn't fit?",
        "Do you have a shop where I can see it?",
        "Could you send a photo of the back?",
    ],
    details: &[
        "Delivery is free above €50.",
        "Yes, 30 days to return it, we cover the postage.",
        "Our showroom in Porto is open Tuesday to Saturday.",
        "Of course, I'll add it to the listing this afternoon.",
    ],
    thanks: &[
        "Thank you!",
        "Perfect, I'll order it tonight.",
        "Thanks, very helpful.",
    ],
    share_captions: &["It looks lovely next to this", "This one matches it"],
};

/// How a shop behaves.
struct Shop {
    vendor: &'static DemoUser,
    customers: Vec<&'static DemoUser>,
    /// Products conversations start from, with weights; `None`: from the
    /// shop's page.
    starts: Vec<(Option<Item>, u32)>,
    /// Products its vendor shares.
    catalogue: Vec<Item>,
    /// Median minutes to a first answer at the start and at the end of the
    /// month.
    first_answer_median: (f64, f64),
    /// Share of conversations of the last days that get no answer at all.
    unanswered_recent: f64,
    /// Share of closing thank-yous the vendor never reads.
    thanks_unread: f64,
    lines: &'static Lines,
}

fn shops() -> [Shop; 2] {
    let product = |id: &str| {
        Item::of(
            PRODUCTS
                .iter()
                .find(|p| p.id == id)
                .expect("a demo product"),
        )
    };
    let [bike, helmet, lamp, chair] = [
        product("p-red-bike"),
        product("p-helmet"),
        product("p-lamp"),
        product("p-chair"),
    ];
    let [backpack, lock, rack] = BOLT_ARCHIVE;
    let [vase, throw] = LUMEN_ARCHIVE;
    [
        Shop {
            vendor: &VENDORS[0],
            customers: SHOPPERS[..16].iter().collect(),
            starts: vec![
                (Some(bike), 6),
                (Some(helmet), 5),
                (Some(backpack), 3),
                (Some(lock), 2),
                (Some(rack), 1),
                (None, 1),
            ],
            catalogue: vec![bike, helmet, backpack],
            first_answer_median: (150.0, 20.0),
            unanswered_recent: 0.5,
            thanks_unread: 0.5,
            lines: &BOLT_LINES,
        },
        Shop {
            vendor: &VENDORS[1],
            // Bruno and Chen, whom the sign-in page offers, have a
            // conversation each here too (read to the end on both sides).
            customers: SHOPPERS[6..]
                .iter()
                .chain([&CUSTOMERS[1], &CUSTOMERS[2]])
                .collect(),
            starts: vec![
                (Some(lamp), 6),
                (Some(chair), 4),
                (Some(vase), 3),
                (Some(throw), 2),
                (None, 1),
            ],
            catalogue: vec![lamp, chair, vase],
            first_answer_median: (14.0, 12.0),
            unanswered_recent: 0.0,
            thanks_unread: 0.0,
            lines: &LUMEN_LINES,
        },
    ]
}

/// The relative number of conversations started at an hour of the day (UTC).
const HOUR_WEIGHTS: [f64; 24] = [
    0.25, 0.12, 0.06, 0.04, 0.04, 0.08, 0.2, 0.45, 0.8, 1.0, 1.0, 1.1, 1.5, 1.4, 1.0, 1.0, 1.1,
    1.3, 1.8, 2.3, 2.5, 2.2, 1.4, 0.7,
];

/// The relative number by day of the week (Monday first): busier weekends.
const WEEKDAY_WEIGHTS: [f64; 7] = [1.0, 0.9, 0.9, 1.0, 1.2, 1.7, 1.5];

/// The scripts of the month before `now` (milliseconds since the epoch),
/// drawn from `seed`: one conversation per shop and customer.
pub fn plan(now: i64, seed: u64) -> Vec<Script> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut scripts = Vec::new();
    for shop in shops() {
        for customer in &shop.customers {
            scripts.push(conversation(&mut rng, &shop, customer, now));
        }
    }
    scripts
}

/// Midnight UTC of the day of `ms`.
fn midnight(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY)
}

/// A start time in the last [`DAYS`] UTC dates, at least three hours before
/// `now`, weighted by hour and weekday.
fn start_time(rng: &mut StdRng, now: i64) -> i64 {
    let today = midnight(now);
    let latest = now - 3 * HOUR;
    let mut slots = Vec::with_capacity(DAYS as usize * 24);
    for day in 0..DAYS {
        let day_start = today - day * DAY;
        // 1970-01-01 was a Thursday (index 3, Monday first).
        let weekday = ((day_start / DAY) + 3).rem_euclid(7) as usize;
        for hour in 0..24 {
            let slot = day_start + hour * HOUR;
            if slot + HOUR <= latest {
                slots.push((slot, HOUR_WEIGHTS[hour as usize] * WEEKDAY_WEIGHTS[weekday]));
            }
        }
    }
    let total: f64 = slots.iter().map(|s| s.1).sum();
    let mut r = rng.random::<f64>() * total;
    let mut chosen = slots[0].0;
    for (slot, weight) in slots {
        chosen = slot;
        if r < weight {
            break;
        }
        r -= weight;
    }
    chosen + rng.random_range(0..HOUR)
}

/// A log-normal duration in minutes with this median.
fn lognormal_minutes(rng: &mut StdRng, median: f64, sigma: f64) -> i64 {
    // Box-Muller: a standard normal from two uniforms.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((median.ln() + sigma * z).exp() * MINUTE as f64) as i64
}

/// `at`, or the next opening time when the shop is closed then.
fn when_open(rng: &mut StdRng, at: i64) -> i64 {
    let hour = at.rem_euclid(DAY) / HOUR;
    let jitter = rng.random_range(5 * MINUTE..50 * MINUTE);
    if hour < OPENS {
        midnight(at) + OPENS * HOUR + jitter
    } else if hour >= CLOSES {
        midnight(at) + DAY + OPENS * HOUR + jitter
    } else {
        at
    }
}

fn pick<'a>(rng: &mut StdRng, lines: &'a [&'a str]) -> &'a str {
    lines[rng.random_range(0..lines.len())]
}

fn weighted<T: Copy>(rng: &mut StdRng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|c| c.1).sum();
    let mut r = rng.random_range(0..total);
    for (choice, weight) in choices {
        if r < *weight {
            return *choice;
        }
        r -= weight;
    }
    choices[choices.len() - 1].0
}

/// Builds a script's steps in time order.
struct ScriptBuilder<'r> {
    rng: &'r mut StdRng,
    steps: Vec<Step>,
    last: i64,
}

impl ScriptBuilder<'_> {
    /// Adds a step at `at`, or just after the previous one if that is later.
    fn push(&mut self, at: i64, by: Role, action: Action) -> i64 {
        let at = at.max(self.last + SECOND);
        let id_bits = self.rng.random();
        self.steps.push(Step {
            at,
            by,
            action,
            id_bits,
        });
        self.last = at;
        at
    }
}

fn conversation(rng: &mut StdRng, shop: &Shop, customer: &'static DemoUser, now: i64) -> Script {
    let lines = shop.lines;
    let started_at = start_time(rng, now);
    let product = weighted(rng, &shop.starts);
    let subject = product.map_or("it", |p| p.name);
    let first_name = customer.name.split(' ').next().unwrap_or(customer.name);
    let fill = |line: &str| line.replace("{p}", subject).replace("{name}", first_name);
    // 0 at the start of the month, 1 at its end.
    let progress = ((started_at - (now - DAYS * DAY)) as f64 / (DAYS * DAY) as f64).clamp(0.0, 1.0);
    let (early, late) = shop.first_answer_median;
    let answer_median = early + (late - early) * progress;

    let mut w = ScriptBuilder {
        rng,
        steps: Vec::new(),
        last: started_at,
    };
    let opener = fill(pick(w.rng, lines.openers));
    let at = started_at + w.rng.random_range(10 * SECOND..90 * SECOND);
    let mut t = w.push(at, Role::Customer, Action::Say(opener));
    if w.rng.random_bool(0.35) {
        let second = pick(w.rng, lines.seconds).to_owned();
        let at = t + w.rng.random_range(20 * SECOND..3 * MINUTE);
        t = w.push(at, Role::Customer, Action::Say(second));
    }
    let recent = now - started_at < 6 * DAY;
    if recent && w.rng.random_bool(shop.unanswered_recent) {
        return finish(shop, customer, product, started_at, w.steps, now);
    }

    // The first answer, then a few rounds.
    let rounds = w.rng.random_range(0..=3);
    let mut median = answer_median;
    for round in 0..=rounds {
        let delay = lognormal_minutes(w.rng, median, 0.9).clamp(2 * MINUTE, 20 * HOUR);
        let answer_at = when_open(w.rng, t + delay);
        let read_at = answer_at - w.rng.random_range(30 * SECOND..4 * MINUTE);
        w.push(read_at, Role::Vendor, Action::ReadAll);
        let answer = if round == 0 {
            fill(pick(w.rng, lines.answers))
        } else {
            fill(pick(w.rng, lines.details))
        };
        t = w.push(answer_at, Role::Vendor, Action::Say(answer));
        if round > 0 && w.rng.random_bool(0.25) {
            let others: Vec<Item> = shop
                .catalogue
                .iter()
                .copied()
                .filter(|i| Some(*i) != product)
                .collect();
            let item = others[w.rng.random_range(0..others.len())];
            let caption = pick(w.rng, lines.share_captions).to_owned();
            let at = t + w.rng.random_range(20 * SECOND..2 * MINUTE);
            t = w.push(at, Role::Vendor, Action::Share { item, caption });
        }
        // The customer comes back, reads, and asks more or says thanks.
        let back = t + lognormal_minutes(w.rng, 25.0, 1.0).clamp(MINUTE, 16 * HOUR);
        w.push(back, Role::Customer, Action::ReadAll);
        let next = if round < rounds {
            fill(pick(w.rng, lines.follow_ups))
        } else if w.rng.random_bool(0.7) {
            pick(w.rng, lines.thanks).to_owned()
        } else {
            break;
        };
        let at = back + w.rng.random_range(20 * SECOND..2 * MINUTE);
        t = w.push(at, Role::Customer, Action::Say(next));
        median = (median / 2.0).max(4.0);
    }
    // A closing thank-you: read later, or never by a busy shop.
    if matches!(
        w.steps.last(),
        Some(Step {
            by: Role::Customer,
            action: Action::Say(_),
            ..
        })
    ) && !w.rng.random_bool(shop.thanks_unread)
    {
        let later = t + lognormal_minutes(w.rng, 40.0, 0.8);
        let at = when_open(w.rng, later);
        w.push(at, Role::Vendor, Action::ReadAll);
    }
    finish(shop, customer, product, started_at, w.steps, now)
}

/// Cuts what would happen after `now`; a shop that reads everything
/// (Lumen Home) and the sign-in customers have then read the other side.
fn finish(
    shop: &Shop,
    customer: &'static DemoUser,
    product: Option<Item>,
    started_at: i64,
    mut steps: Vec<Step>,
    now: i64,
) -> Script {
    let limit = now - 2 * MINUTE;
    steps.retain(|s| s.at < limit);
    let reads_all = shop.thanks_unread == 0.0 && shop.unanswered_recent == 0.0;
    let signs_in = CUSTOMERS.iter().any(|c| c.id == customer.id);
    let last = steps.last().map_or(started_at, |s| s.at);
    let mut at = last;
    let mut catch_up = |by: Role, steps: &mut Vec<Step>| {
        let sent_by_other = |s: &Step| s.by != by && !matches!(s.action, Action::ReadAll);
        let last_other = steps.iter().rposition(sent_by_other);
        let last_read = steps
            .iter()
            .rposition(|s| s.by == by && s.action == Action::ReadAll);
        // `None` (nothing) orders before any position.
        if last_other > last_read {
            at = (at + SECOND).min(now - SECOND);
            steps.push(Step {
                at,
                by,
                action: Action::ReadAll,
                id_bits: [0; 10],
            });
        }
    };
    if reads_all {
        catch_up(Role::Vendor, &mut steps);
    }
    if signs_in {
        catch_up(Role::Customer, &mut steps);
    }
    Script {
        customer,
        vendor: shop.vendor,
        product,
        started_at,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T07:40:00Z, a Tuesday.
    const NOW: i64 = 1_796_110_800_000;

    fn unread_by(script: &Script, role: Role) -> usize {
        let last_read = script
            .steps
            .iter()
            .rposition(|s| s.by == role && s.action == Action::ReadAll);
        script
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                s.by != role && s.action != Action::ReadAll && last_read.is_none_or(|r| *i > r)
            })
            .count()
    }

    #[test]
    fn the_same_seed_tells_the_same_story() {
        assert_eq!(plan(NOW, SEED), plan(NOW, SEED));
        assert_ne!(plan(NOW, SEED), plan(NOW, SEED + 1));
    }

    #[test]
    fn every_step_is_in_the_month_and_in_order() {
        let from = midnight(NOW) - (DAYS - 1) * DAY;
        for s in plan(NOW, SEED) {
            assert!(s.started_at >= from && s.started_at < NOW, "{s:?}");
            let mut last = s.started_at;
            for step in &s.steps {
                assert!(step.at >= last && step.at < NOW, "{s:?}");
                last = step.at;
            }
            assert!(matches!(
                s.steps.first(),
                Some(Step {
                    by: Role::Customer,
                    action: Action::Say(_),
                    ..
                })
            ));
        }
    }

    #[test]
    fn one_conversation_per_pair_and_the_shops_differ() {
        let scripts = plan(NOW, SEED);
        let mut pairs: Vec<_> = scripts
            .iter()
            .map(|s| (s.customer.id, s.vendor.id))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), scripts.len());
        // The seeded conversation of the sign-in page stays the only one of
        // Alice, and Bolt Bikes talks to none of the sign-in customers.
        assert!(scripts.iter().all(|s| s.customer.id != "c-alice"));
        assert!(scripts
            .iter()
            .all(|s| s.vendor.id != "v-bolt" || !CUSTOMERS.iter().any(|c| c.id == s.customer.id)));
        let backlog = |vendor: &str| -> usize {
            scripts
                .iter()
                .filter(|s| s.vendor.id == vendor)
                .map(|s| unread_by(s, Role::Vendor))
                .sum()
        };
        assert!(backlog("v-bolt") > 0, "Bolt Bikes has an unread backlog");
        assert_eq!(backlog("v-lumen"), 0, "Lumen Home reads everything");
        for s in scripts
            .iter()
            .filter(|s| CUSTOMERS.iter().any(|c| c.id == s.customer.id))
        {
            assert_eq!(
                unread_by(s, Role::Customer),
                0,
                "{} read everything",
                s.customer.id
            );
        }
        let products: std::collections::BTreeSet<_> = scripts
            .iter()
            .filter_map(|s| s.product.map(|p| p.id))
            .collect();
        assert!(products.len() >= 6, "{products:?}");
    }

    #[test]
    fn no_line_matches_what_the_chat_tests_search_for() {
        // web/e2e/chat.test.mjs searches Bolt Bikes' list for "chen" and
        // "lights" and expects only Chen Wei and Alice.
        for s in plan(NOW, SEED).iter().filter(|s| s.vendor.id == "v-bolt") {
            let mut words = vec![s.customer.name.to_lowercase()];
            words.extend(s.product.map(|p| p.name.to_lowercase()));
            for step in &s.steps {
                match &step.action {
                    Action::Say(t) => words.push(t.to_lowercase()),
                    Action::Share { item, caption } => {
                        words.push(item.name.to_lowercase());
                        words.push(caption.to_lowercase());
                    }
                    Action::ReadAll => {}
                }
            }
            for w in words {
                assert!(!w.contains("chen") && !w.contains("light"), "{w}");
            }
        }
    }

    #[test]
    fn customers_write_in_the_evening_more_than_at_night_and_vendors_in_shop_hours() {
        let scripts = plan(NOW, SEED);
        let hour = |at: i64| at.rem_euclid(DAY) / HOUR;
        let said = |role: Role| -> Vec<i64> {
            scripts
                .iter()
                .flat_map(|s| &s.steps)
                .filter(|s| s.by == role && s.action != Action::ReadAll)
                .map(|s| hour(s.at))
                .collect()
        };
        let customers = said(Role::Customer);
        let evening = customers.iter().filter(|h| (18..22).contains(*h)).count();
        let night = customers.iter().filter(|h| (1..5).contains(*h)).count();
        assert!(
            evening > 4 * night.max(1),
            "evening {evening}, night {night}"
        );
        // Vendors answer from 08:00 to 22:00 (a reply follows a read within
        // minutes, so it may spill just past the hour).
        for h in said(Role::Vendor) {
            assert!((OPENS..=CLOSES).contains(&h), "a vendor message at {h}h");
        }
    }

    #[test]
    fn night_questions_wait_for_the_morning() {
        let mut rng = StdRng::seed_from_u64(1);
        let day = midnight(NOW);
        let night = when_open(&mut rng, day + 23 * HOUR);
        assert!(night >= day + DAY + OPENS * HOUR && night < day + DAY + (OPENS + 1) * HOUR);
        let early = when_open(&mut rng, day + 3 * HOUR);
        assert!(early >= day + OPENS * HOUR && early < day + (OPENS + 1) * HOUR);
        assert_eq!(when_open(&mut rng, day + 15 * HOUR), day + 15 * HOUR);
    }
}
