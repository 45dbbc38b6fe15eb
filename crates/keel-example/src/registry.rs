//! The device registry kept by operations (a CSV export) and the CRM database kept by sales
//! (SQLite), each in its spelling.

use std::collections::BTreeMap;
use std::path::Path;

use rand::Rng;

use crate::ExampleError;
use crate::names::{
    DISTRICTS, FEMALE_FIRST, MALE_FIRST, NICE_WORDS, SURNAMES, pick, strip_diacritics, swap_letters,
};
use crate::world::{Building, BuildingType, Domain, STATIONS, rng_for};

/// Share of CRM rows that carry the building id in `internal_ref`.
const REF_RATE: f64 = 0.85;

/// Writes `devices.csv` (UTF-8, comma, LF, quoted only where needed); returns its row count.
pub(crate) fn write_devices(path: &Path, buildings: &[Building]) -> Result<usize, ExampleError> {
    let csv_error = |source| ExampleError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record([
        "device_id",
        "building_id",
        "building_name",
        "street",
        "postcode",
        "city",
        "station_id",
        "firmware",
        "installed_on",
    ])
    .map_err(csv_error)?;
    for b in buildings {
        let installed_on = b.installed_on.format("%Y-%m-%d").to_string();
        w.write_record([
            b.device_id.as_str(),
            &b.id,
            &b.name,
            &b.street(),
            &b.postcode,
            b.city,
            STATIONS[b.station].id,
            b.firmware.as_str(),
            &installed_on,
        ])
        .map_err(csv_error)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv_error(e.into_error().into()))?;
    fs_err::write(path, bytes)?;
    Ok(buildings.len())
}

/// The CRM's table, as sales' CRM application created it.
const CUSTOMERS_DDL: &str = "CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY NOT NULL,
    customer_name TEXT NOT NULL,
    building TEXT NOT NULL,
    address TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    city TEXT NOT NULL,
    building_type TEXT NOT NULL,
    heated_area_m2 REAL NOT NULL,
    construction_year INTEGER NOT NULL,
    internal_ref TEXT
)";

/// Writes the CRM database `crm.sqlite` with its table `customers` (`internal_ref` NULL
/// where the clerk typed no building id); returns each customer's building (customer id →
/// building id) and how many rows carry an `internal_ref`.
///
/// The file is built under a temporary name and renamed into place, so that a collector
/// never reads a half-written database; the same rows inserted in the same order by the
/// same (bundled) SQLite give the same bytes, so the file is as deterministic as the others.
pub(crate) fn write_customers(
    path: &Path,
    seed: u64,
    buildings: &[Building],
) -> Result<(BTreeMap<String, String>, usize), ExampleError> {
    let sqlite_error = |source| ExampleError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("sqlite.tmp");
    for stale in [tmp.clone(), tmp.with_extension("tmp-journal")] {
        if stale.exists() {
            fs_err::remove_file(&stale)?;
        }
    }
    let mut db = rusqlite::Connection::open(&tmp).map_err(sqlite_error)?;
    db.execute_batch(CUSTOMERS_DDL).map_err(sqlite_error)?;
    let tx = db.transaction().map_err(sqlite_error)?;
    let mut with_ref = 0;
    let mut pairs = BTreeMap::new();
    {
        let mut insert = tx
            .prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
            .map_err(sqlite_error)?;
        for b in buildings {
            let mut rng = rng_for(seed, Domain::Customer, b.index as u64);
            let customer = customer_name(&mut rng, b);
            let building = building_variant(&mut rng, &b.name);
            let address = address_variant(&mut rng, b);
            let city = match rng.random_range(0..100) {
                0..5 => b.city.to_uppercase(),
                5..15 => strip_diacritics(b.city),
                _ => b.city.to_owned(),
            };
            let internal_ref = rng.random_bool(REF_RATE).then_some(b.id.as_str());
            with_ref += usize::from(internal_ref.is_some());
            let customer_id = format!("C-{}", 10001 + b.index);
            pairs.insert(customer_id.clone(), b.id.clone());
            insert
                .execute(rusqlite::params![
                    customer_id,
                    customer,
                    building,
                    address,
                    b.postcode,
                    city,
                    b.kind.as_str(),
                    // Tenths of m² as the REAL the CRM stores (1503.3, not 1503.2999…).
                    b.area_dm2 as f64 / 10.0,
                    b.construction_year,
                    internal_ref,
                ])
                .map_err(sqlite_error)?;
        }
    }
    tx.commit().map_err(sqlite_error)?;
    db.close().map_err(|(_, e)| sqlite_error(e))?;
    fs_err::rename(&tmp, path)?;
    Ok((pairs, with_ref))
}

/// `Kowalski, Jan` or `Kowalska, Anna`: the way the CRM files private customers.
fn person<R: Rng>(rng: &mut R) -> String {
    let &(male, female) = pick(rng, SURNAMES);
    if rng.random_bool(0.5) {
        format!("{male}, {}", pick(rng, MALE_FIRST))
    } else {
        format!("{female}, {}", pick(rng, FEMALE_FIRST))
    }
}

fn customer_name<R: Rng>(rng: &mut R, b: &Building) -> String {
    let roll = rng.random_range(0..100);
    let nice = *pick(rng, NICE_WORDS);
    match b.kind {
        BuildingType::Residential if roll < 45 => format!("Spółdzielnia Mieszkaniowa \"{nice}\""),
        BuildingType::Residential if roll < 75 => {
            format!("Wspólnota Mieszkaniowa {} {}", b.street_name, b.house_no)
        }
        BuildingType::Office if roll < 50 => {
            format!("{} Office Park Sp. z o.o.", pick(rng, DISTRICTS))
        }
        BuildingType::Office if roll < 75 => format!("{nice} Invest S.A."),
        BuildingType::Office => {
            format!("{} i Wspólnicy Sp.j.", pick(rng, SURNAMES).0)
        }
        BuildingType::School => format!("Gmina Miejska {}", b.city),
        BuildingType::Clinic if roll < 60 => format!("NZOZ \"{nice}\" Sp. z o.o."),
        BuildingType::Retail if roll < 40 => {
            format!("P.H.U. \"{nice}\" {}", pick(rng, SURNAMES).0)
        }
        BuildingType::Retail if roll < 55 => format!("{nice} s.c."),
        BuildingType::Residential | BuildingType::Clinic | BuildingType::Retail => person(rng),
    }
}

/// Long forms and the abbreviations sales people type instead.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("Szkoła Podstawowa nr", &["SP nr", "SP", "Szk. Podst. nr"]),
    ("Liceum Ogólnokształcące nr", &["LO nr", "LO"]),
    ("Przedszkole nr", &["Przedszkole", "Przedsz. nr"]),
    (
        "Blok mieszkalny",
        &["Blok", "bl. mieszk.", "Budynek mieszkalny"],
    ),
    ("Centrum Biurowe", &["CB", "C. Biurowe"]),
    ("Przychodnia Rejonowa", &["Przych. Rej.", "Przychodnia"]),
    ("Centrum Medyczne", &["CM", "Centrum Med."]),
    ("Sklep spożywczy", &["Sklep", "Spożywczy"]),
    ("Pawilon handlowy", &["Pawilon", "Paw. handl."]),
];

/// The building name as the CRM has it: abbreviated, without diacritics, re-cased or mistyped.
fn building_variant<R: Rng>(rng: &mut R, name: &str) -> String {
    let mut s = name.to_owned();
    if rng.random_bool(0.5)
        && let Some((long, shorts)) = ABBREVIATIONS.iter().find(|(long, _)| s.starts_with(long))
    {
        s = format!("{}{}", pick(rng, shorts), &s[long.len()..]);
    }
    common_variants(rng, s)
}

/// The street as the CRM has it: `ul.` dropped or spelt out, an apartment number, and the rest.
fn address_variant<R: Rng>(rng: &mut R, b: &Building) -> String {
    let prefix = match (b.street_prefix, rng.random_range(0..100)) {
        (_, 0..50) => format!("{} ", b.street_prefix),
        (_, 50..75) => String::new(),
        ("ul.", _) => "ulica ".to_owned(),
        ("al.", _) => "Aleja ".to_owned(),
        (_, _) => "plac ".to_owned(),
    };
    let mut s = format!("{prefix}{} {}", b.street_name, b.house_no);
    if b.kind == BuildingType::Residential && rng.random_bool(0.2) {
        s = format!("{s}/{}", rng.random_range(1..=60));
    }
    common_variants(rng, s)
}

fn common_variants<R: Rng>(rng: &mut R, mut s: String) -> String {
    if rng.random_bool(0.3) {
        s = strip_diacritics(&s);
    }
    match rng.random_range(0..100) {
        0..8 => s = s.to_uppercase(),
        8..12 => s = s.to_lowercase(),
        _ => {}
    }
    if rng.random_bool(0.08) {
        s = swap_letters(rng, &s);
    }
    s
}
