//! The deterministic sample data `init` seeds.
//!
//! Tests outside the crate depend on this data (the contract's Fixture section), so it is
//! generated from a fixed seed: every run, on every machine, seeds the same rows. The only
//! exception is the housekeeping tables' timestamps, which are relative to the moment of
//! seeding: what makes a session expired or a log line old is its age, and a fixed date would
//! eventually make every row old. Their number and relative age are fixed, so `delete_data`
//! always removes the same count from a fresh database.

use rusqlite::{Connection, params};

use crate::model::{
    Customer, CustomerStatus, Note, Order, OrderStatus, Product, SubscriptionTier, User,
};
use crate::role::Role;

/// Sessions whose expiry is in the past, out of [`SESSIONS`].
pub const EXPIRED_SESSIONS: u64 = 8;
/// Sessions seeded in all.
pub const SESSIONS: u64 = 12;
/// Log lines older than 90 days, out of [`LOGS`].
pub const OLD_LOGS: u64 = 20;
/// Log lines seeded in all.
pub const LOGS: u64 = 30;
/// Staged uploads older than a day, out of [`TEMP_FILES`].
pub const STALE_TEMP_FILES: u64 = 3;
/// Staged uploads seeded in all.
pub const TEMP_FILES: u64 = 5;

/// Customers `C001` to `C050`.
pub const CUSTOMERS: u32 = 50;
/// Orders `O1001` to `O1100`.
pub const ORDERS: u32 = 100;
/// Products `P001` to `P020`.
pub const PRODUCTS: u32 = 20;

const SEED: u64 = 0x5EED_DE5C_2025_0001;

/// A 64-bit linear congruential generator (Knuth's MMIX constants): tiny, and stable forever,
/// unlike a library's generator whose output may change between versions.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The high bits of an LCG are the well-mixed ones.
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u32) as usize]
    }

    fn chars(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| *self.pick(alphabet) as char).collect()
    }

    fn date(&mut self, first_year: u32, years: u32) -> String {
        let year = first_year + self.below(years);
        let month = 1 + self.below(12);
        let day = 1 + self.below(28);
        format!("{year}-{month:02}-{day:02}")
    }

    fn timestamp(&mut self, first_year: u32, years: u32) -> String {
        let date = self.date(first_year, years);
        let hour = self.below(24);
        let minute = self.below(60);
        let second = self.below(60);
        format!("{date}T{hour:02}:{minute:02}:{second:02}Z")
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Priya", "Wei", "Fatima", "Lucas", "Sofia", "Noah", "Amara", "Kenji",
    "Elena", "Omar", "Hannah", "Diego", "Chloe", "Ravi", "Ingrid", "Mateo", "Yuki", "Samuel",
    "Leila", "Tomas", "Grace", "Andre",
];
const LAST_NAMES: &[&str] = &[
    "Garcia", "Okafor", "Patel", "Zhang", "Haddad", "Silva", "Rossi", "Kim", "Nguyen", "Tanaka",
    "Novak", "Farouk", "Schmidt", "Lopez", "Martin", "Iyer", "Larsen", "Torres", "Sato", "Cohen",
    "Moreau", "Kowalski", "Murphy", "Dubois",
];
const INTERNAL_NOTES: &[&str] = &[
    "",
    "",
    "VIP: escalate straight to tier 2.",
    "Filed a chargeback in 2023; resolved in our favour.",
    "Prefers phone contact in the morning.",
    "Fraud check passed after manual ID review.",
    "Do not offer further goodwill credit.",
];
const NOTE_BODIES: &[&str] = &[
    "Called about a late delivery; carrier confirmed it is in transit.",
    "Asked to move to the annual plan at renewal.",
    "Reported a damaged item; replacement sent.",
    "Wanted invoices addressed to the finance team from next month.",
    "Password reset requested by phone; identity confirmed.",
    "Unhappy with the response time on the last ticket; apologised.",
];
const PRODUCT_CATALOGUE: &[(&str, &str, u32)] = &[
    ("Wireless Mouse", "accessories", 2_499),
    ("Mechanical Keyboard", "accessories", 8_900),
    ("USB-C Hub", "accessories", 3_999),
    ("27-inch Monitor", "displays", 27_900),
    ("Portable Monitor", "displays", 18_950),
    ("Laptop Stand", "furniture", 4_500),
    ("Standing Desk", "furniture", 49_900),
    ("Ergonomic Chair", "furniture", 32_000),
    ("Noise-Cancelling Headphones", "audio", 24_900),
    ("Conference Speakerphone", "audio", 12_900),
    ("Webcam HD", "video", 6_999),
    ("Ring Light", "video", 2_950),
    ("External SSD 1 TB", "storage", 10_900),
    ("USB Flash Drive 64 GB", "storage", 1_299),
    ("Cloud Backup (1 year)", "software", 5_999),
    ("Password Manager (1 year)", "software", 3_600),
    ("Surge Protector", "power", 2_199),
    ("Laptop Charger 65 W", "power", 4_999),
    ("Cable Organiser Kit", "accessories", 1_599),
    ("Desk Lamp", "furniture", 3_900),
];

/// A login as the fixture declares it.
struct SeedUser {
    id: &'static str,
    role: Role,
    name: &'static str,
    customer_id: Option<&'static str>,
    email: &'static str,
    created_at: &'static str,
}

/// The staff and customer logins.
const USERS: &[SeedUser] = &[
    SeedUser {
        id: "alice",
        role: Role::User,
        name: "Alice Anders",
        customer_id: Some("C001"),
        email: "alice@example.com",
        created_at: "2021-04-12T10:15:00Z",
    },
    SeedUser {
        id: "bob",
        role: Role::User,
        name: "Bob Brown",
        customer_id: Some("C002"),
        email: "bob@example.com",
        created_at: "2022-09-03T16:40:00Z",
    },
    SeedUser {
        id: "carol",
        role: Role::SupportAgent,
        name: "Carol Chen",
        customer_id: None,
        email: "carol.chen@desk.example.com",
        created_at: "2020-01-06T09:00:00Z",
    },
    SeedUser {
        id: "dave",
        role: Role::Admin,
        name: "Dave Diaz",
        customer_id: None,
        email: "dave.diaz@desk.example.com",
        created_at: "2019-05-20T09:00:00Z",
    },
    SeedUser {
        id: "erin",
        role: Role::SuperAdmin,
        name: "Erin Evans",
        customer_id: None,
        email: "erin.evans@desk.example.com",
        created_at: "2018-11-01T09:00:00Z",
    },
];

/// Rows of the housekeeping tables, with ages as SQLite date modifiers.
struct Housekeeping {
    /// id, user id, created (modifier), expires (modifier).
    sessions: Vec<(String, String, String, String)>,
    /// level, message, created (modifier).
    logs: Vec<(&'static str, String, String)>,
    /// name, content, created (modifier).
    temp_files: Vec<(String, Vec<u8>, String)>,
}

/// Everything `init` seeds, as records.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    pub users: Vec<User>,
    pub customers: Vec<Customer>,
    pub orders: Vec<Order>,
    pub products: Vec<Product>,
    pub notes: Vec<Note>,
}

impl Fixture {
    /// The fixture: the same records on every call.
    pub fn generate() -> Fixture {
        let mut rng = Lcg(SEED);
        let users = USERS
            .iter()
            .map(|u| User {
                id: u.id.to_owned(),
                name: u.name.to_owned(),
                email: u.email.to_owned(),
                role: u.role,
                customer_id: u.customer_id.map(str::to_owned),
            })
            .collect();
        let mut customers = generate_customers(&mut rng);
        let orders = generate_orders(&mut rng);
        for customer in &mut customers {
            customer.total_orders = orders
                .iter()
                .filter(|o| o.customer_id == customer.id)
                .count() as u32;
        }
        let products = PRODUCT_CATALOGUE
            .iter()
            .enumerate()
            .map(|(i, &(name, category, cents))| Product {
                id: format!("P{:03}", i + 1),
                name: name.to_owned(),
                price: f64::from(cents) / 100.0,
                category: category.to_owned(),
                in_stock: rng.below(5) != 0,
            })
            .collect();
        let notes = (1..=6)
            .map(|id| Note {
                id,
                customer_id: format!("C{:03}", 1 + rng.below(CUSTOMERS)),
                author: rng.pick(&["carol", "dave"]).to_string(),
                body: rng.pick(NOTE_BODIES).to_string(),
                created_at: rng.timestamp(2025, 1),
            })
            .collect();
        Fixture {
            users,
            customers,
            orders,
            products,
            notes,
        }
    }
}

fn generate_customers(rng: &mut Lcg) -> Vec<Customer> {
    let mut customers = Vec::with_capacity(CUSTOMERS as usize);
    let mut taken: Vec<String> = Vec::new();
    for n in 1..=CUSTOMERS {
        let (name, email, phone) = match n {
            1 => (
                "Alice Anders".into(),
                "alice@example.com".into(),
                "555-010-1234".into(),
            ),
            2 => (
                "Bob Brown".into(),
                "bob@example.com".into(),
                "555-014-8822".into(),
            ),
            _ => {
                // Names are unique so that every email is too.
                let (first, last) = loop {
                    let pair = (*rng.pick(FIRST_NAMES), *rng.pick(LAST_NAMES));
                    let name = format!("{} {}", pair.0, pair.1);
                    if !taken.contains(&name) {
                        taken.push(name);
                        break pair;
                    }
                };
                let email = format!("{}.{}@example.com", first, last).to_lowercase();
                let phone = format!("555-0{:02}-{:04}", rng.below(100), rng.below(10_000));
                (format!("{first} {last}"), email, phone)
            }
        };
        let status = if n > 2 && rng.below(8) == 0 {
            CustomerStatus::Suspended
        } else {
            CustomerStatus::Active
        };
        customers.push(Customer {
            id: format!("C{n:03}"),
            name,
            email,
            email_verified: true,
            phone,
            status,
            member_since: rng.date(2017, 8),
            subscription_tier: *rng.pick(SubscriptionTier::ALL),
            // Area numbers 900-999 are never issued: these can never be someone's real SSN.
            ssn: format!(
                "9{:02}-{:02}-{:04}",
                rng.below(100),
                1 + rng.below(99),
                1 + rng.below(9_999)
            ),
            payment_token: format!("tok_{}", rng.chars(HEX, 24)),
            password_hash: format!(
                "$argon2id$v=19$m=19456,t=2,p=1${}${}",
                rng.chars(B64, 22),
                rng.chars(B64, 43)
            ),
            internal_notes: rng.pick(INTERNAL_NOTES).to_string(),
            total_orders: 0,
        });
    }
    customers
}

fn generate_orders(rng: &mut Lcg) -> Vec<Order> {
    (1001..1001 + ORDERS)
        .map(|n| {
            // Alice and Bob own exactly the orders the contract names, so "their own orders"
            // is a short, known list.
            let (customer_id, status) = match n {
                1001 => ("C001".to_owned(), OrderStatus::Delivered),
                1002 => ("C001".to_owned(), OrderStatus::Pending),
                1003 => ("C002".to_owned(), OrderStatus::Shipped),
                _ => (
                    format!("C{:03}", 3 + rng.below(CUSTOMERS - 2)),
                    *rng.pick(OrderStatus::ALL),
                ),
            };
            let cents = 500 + rng.below(49_500);
            Order {
                id: format!("O{n}"),
                customer_id,
                status,
                total: f64::from(cents) / 100.0,
                created_at: rng.timestamp(2024, 2),
            }
        })
        .collect()
}

fn housekeeping(rng: &mut Lcg) -> Housekeeping {
    let user_ids: Vec<&str> = USERS.iter().map(|u| u.id).collect();
    let sessions = (0..SESSIONS)
        .map(|i| {
            let id = format!("sess_{}", rng.chars(HEX, 32));
            let user = rng.pick(&user_ids).to_string();
            let days = 1 + rng.below(20);
            let (created, expires) = if i < EXPIRED_SESSIONS {
                (format!("-{} days", days + 30), format!("-{days} days"))
            } else {
                (format!("-{days} hours"), format!("+{} days", days + 7))
            };
            (id, user, created, expires)
        })
        .collect();
    const LOG_LINES: &[(&str, &str)] = &[
        ("info", "nightly export finished"),
        ("info", "password reset email sent"),
        ("warn", "payment provider responded slowly"),
        ("error", "carrier tracking API returned 503"),
        ("info", "customer record updated"),
    ];
    let logs = (0..LOGS)
        .map(|i| {
            let (level, message) = *rng.pick(LOG_LINES);
            let age = if i < OLD_LOGS {
                format!("-{} days", 91 + rng.below(300))
            } else {
                format!("-{} days", rng.below(60))
            };
            (level, message.to_owned(), age)
        })
        .collect();
    let temp_files = (0..TEMP_FILES)
        .map(|i| {
            let name = format!("upload-{}.csv", rng.chars(HEX, 8));
            let content = format!("id,value\n1,{}\n", rng.below(1000)).into_bytes();
            let age = if i < STALE_TEMP_FILES {
                format!("-{} days", 2 + rng.below(10))
            } else {
                format!("-{} minutes", 1 + rng.below(50))
            };
            (name, content, age)
        })
        .collect();
    Housekeeping {
        sessions,
        logs,
        temp_files,
    }
}

/// Inserts the fixture into a database whose schema was just created.
pub fn seed(conn: &Connection) -> rusqlite::Result<()> {
    let fixture = Fixture::generate();
    let mut insert = conn.prepare(
        "INSERT INTO customers (id, name, email, email_verified, phone, status, member_since,
             subscription_tier, ssn, payment_token, password_hash, internal_notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for c in &fixture.customers {
        insert.execute(params![
            c.id,
            c.name,
            c.email,
            c.email_verified,
            c.phone,
            c.status,
            c.member_since,
            c.subscription_tier,
            c.ssn,
            c.payment_token,
            c.password_hash,
            c.internal_notes,
        ])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO users (id, name, email, role, customer_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (user, seed) in fixture.users.iter().zip(USERS) {
        insert.execute(params![
            user.id,
            user.name,
            user.email,
            user.role,
            user.customer_id,
            seed.created_at
        ])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO products (id, name, price, category, in_stock) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for p in &fixture.products {
        insert.execute(params![p.id, p.name, p.price, p.category, p.in_stock])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO orders (id, customer_id, status, total, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for o in &fixture.orders {
        insert.execute(params![
            o.id,
            o.customer_id,
            o.status,
            o.total,
            o.created_at
        ])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO notes (id, customer_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for n in &fixture.notes {
        insert.execute(params![n.id, n.customer_id, n.author, n.body, n.created_at])?;
    }

    // A separate stream, so that adding housekeeping rows never shifts the records above.
    let chores = housekeeping(&mut Lcg(SEED ^ 0xC40E5));
    let mut insert = conn.prepare(
        "INSERT INTO sessions (id, user_id, created_at, expires_at)
         VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?3),
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?4))",
    )?;
    for (id, user, created, expires) in &chores.sessions {
        insert.execute(params![id, user, created, expires])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO logs (level, message, created_at)
         VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?3))",
    )?;
    for (level, message, age) in &chores.logs {
        insert.execute(params![level, message, age])?;
    }
    let mut insert = conn.prepare(
        "INSERT INTO temp_files (name, content, created_at)
         VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?3))",
    )?;
    for (name, content, age) in &chores.temp_files {
        insert.execute(params![name, content, age])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(Fixture::generate(), Fixture::generate());
    }

    #[test]
    fn the_records_the_contract_names() {
        let f = Fixture::generate();
        let users: Vec<_> = f
            .users
            .iter()
            .map(|u| {
                (
                    u.id.as_str(),
                    u.role,
                    u.name.as_str(),
                    u.customer_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            users,
            [
                ("alice", Role::User, "Alice Anders", Some("C001")),
                ("bob", Role::User, "Bob Brown", Some("C002")),
                ("carol", Role::SupportAgent, "Carol Chen", None),
                ("dave", Role::Admin, "Dave Diaz", None),
                ("erin", Role::SuperAdmin, "Erin Evans", None),
            ]
        );

        let ids: Vec<_> = f.customers.iter().map(|c| c.id.clone()).collect();
        let expected: Vec<_> = (1..=50).map(|n| format!("C{n:03}")).collect();
        assert_eq!(ids, expected);
        let c1 = &f.customers[0];
        assert_eq!(
            (c1.name.as_str(), c1.email.as_str(), c1.phone.as_str()),
            ("Alice Anders", "alice@example.com", "555-010-1234")
        );
        let c2 = &f.customers[1];
        assert_eq!(
            (c2.name.as_str(), c2.email.as_str()),
            ("Bob Brown", "bob@example.com")
        );

        let ids: Vec<_> = f.orders.iter().map(|o| o.id.clone()).collect();
        let expected: Vec<_> = (1001..=1100).map(|n| format!("O{n}")).collect();
        assert_eq!(ids, expected);
        let owner = |id: &str| {
            f.orders
                .iter()
                .find(|o| o.id == id)
                .unwrap()
                .customer_id
                .clone()
        };
        assert_eq!(owner("O1001"), "C001");
        assert_eq!(owner("O1002"), "C001");
        assert_eq!(owner("O1003"), "C002");

        let ids: Vec<_> = f.products.iter().map(|p| p.id.clone()).collect();
        let expected: Vec<_> = (1..=20).map(|n| format!("P{n:03}")).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn customer_fields_have_the_contract_shapes() {
        let f = Fixture::generate();
        let mut emails: Vec<_> = f.customers.iter().map(|c| c.email.clone()).collect();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), f.customers.len(), "emails are unique");
        for c in &f.customers {
            let p = c.phone.as_bytes();
            let shape_ok = c.phone.len() == 12
                && c.phone.starts_with("555-0")
                && p[3] == b'-'
                && p[7] == b'-'
                && p.iter()
                    .enumerate()
                    .all(|(i, b)| i == 3 || i == 7 || b.is_ascii_digit());
            assert!(shape_ok, "{} has phone {}", c.id, c.phone);
            assert_eq!(c.member_since.len(), 10, "{}", c.member_since);
            assert!(c.ssn.starts_with('9') && c.payment_token.starts_with("tok_"));
            assert!(!c.name.is_empty() && c.email.ends_with("@example.com"));
        }
        let orders: u32 = f.customers.iter().map(|c| c.total_orders).sum();
        assert_eq!(orders, ORDERS);
        assert_eq!(f.customers[0].total_orders, 2);
        assert_eq!(f.customers[1].total_orders, 1);
    }
}
