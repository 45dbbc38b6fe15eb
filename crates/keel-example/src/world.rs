//! The simulated world every file is drawn from: the period, the stations, the buildings, the meters.

use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dialects::Firmware;
use crate::names::{DISTRICTS, NICE_WORDS, SHOP_KINDS, STREETS, pick};

/// Independent random streams, one per concern, so that adding draws to one never shifts another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Domain {
    Buildings = 1,
    Weather = 2,
    Device = 3,
    Customer = 4,
    ExtraMonth = 5,
}

/// A ChaCha8 generator for one domain and one index (a device, a station, a customer).
pub(crate) fn rng_for(seed: u64, domain: Domain, index: u64) -> ChaCha8Rng {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (domain as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index);
    rng
}

/// A standard normal draw (Box-Muller); the workspace carries no `rand_distr`.
pub(crate) fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The days covered by the data set: whole calendar years.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl Period {
    pub fn days(&self) -> usize {
        self.day_index(self.last_day) + 1
    }

    pub fn day_index(&self, date: NaiveDate) -> usize {
        usize::try_from((date - self.first_day).num_days()).unwrap_or(0)
    }

    pub fn date(&self, index: usize) -> NaiveDate {
        self.first_day + Days::new(index as u64)
    }
}

/// Number of days in a calendar month.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(30),
        _ => 30,
    }
}

/// A weather station with the climate the simulation gives it.
#[derive(Debug)]
pub(crate) struct Station {
    pub id: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation: f64,
    /// Offset of the annual mean temperature from the 8 °C national mean.
    pub temp_offset: f64,
    /// Half the summer-winter swing of the daily mean temperature.
    pub amplitude: f64,
    /// Share of the buildings served near this station, in percent.
    pub share: u32,
    /// Towns around the station with their postcode ranges (as five-digit numbers).
    pub towns: &'static [(&'static str, u32, u32)],
}

pub(crate) const STATIONS: &[Station] = &[
    Station {
        id: "WAW",
        latitude: 52.23,
        longitude: 21.01,
        elevation: 113.0,
        temp_offset: 0.0,
        amplitude: 11.0,
        share: 35,
        towns: &[
            ("Warszawa", 1, 4999),
            ("Piaseczno", 5500, 5599),
            ("Pruszków", 5800, 5899),
        ],
    },
    Station {
        id: "KRK",
        latitude: 50.06,
        longitude: 19.94,
        elevation: 219.0,
        temp_offset: 0.3,
        amplitude: 11.2,
        share: 20,
        towns: &[("Kraków", 30001, 31999), ("Wieliczka", 32020, 32029)],
    },
    Station {
        id: "GDN",
        latitude: 54.35,
        longitude: 18.65,
        elevation: 14.0,
        temp_offset: -0.3,
        amplitude: 9.5,
        share: 15,
        towns: &[
            ("Gdańsk", 80001, 80999),
            ("Gdynia", 81001, 81599),
            ("Sopot", 81701, 81899),
        ],
    },
    Station {
        id: "WRO",
        latitude: 51.11,
        longitude: 17.04,
        elevation: 120.0,
        temp_offset: 1.0,
        amplitude: 10.5,
        share: 15,
        towns: &[("Wrocław", 50001, 54999), ("Oleśnica", 56400, 56499)],
    },
    Station {
        id: "POZ",
        latitude: 52.41,
        longitude: 16.93,
        elevation: 86.0,
        temp_offset: 0.5,
        amplitude: 10.8,
        share: 15,
        towns: &[("Poznań", 60001, 61999), ("Swarzędz", 62020, 62029)],
    },
];

/// What a building is used for; drives its size, hot-water load and weekly rhythm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildingType {
    Residential,
    Office,
    School,
    Clinic,
    Retail,
}

impl BuildingType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Residential => "residential",
            Self::Office => "office",
            Self::School => "school",
            Self::Clinic => "clinic",
            Self::Retail => "retail",
        }
    }

    /// Heated area range in m².
    fn area_range(self) -> (f64, f64) {
        match self {
            Self::Residential => (1500.0, 12000.0),
            Self::Office => (2000.0, 20000.0),
            Self::School => (2500.0, 9000.0),
            Self::Clinic => (800.0, 6000.0),
            Self::Retail => (300.0, 5000.0),
        }
    }

    /// Hot-water (base) load in kWh per m² per day.
    fn base_per_m2(self) -> f64 {
        match self {
            Self::Residential => 0.06,
            Self::Office => 0.008,
            Self::School => 0.012,
            Self::Clinic => 0.04,
            Self::Retail => 0.01,
        }
    }

    fn oldest(self) -> i32 {
        match self {
            Self::Residential => 1950,
            Self::Office => 1970,
            Self::School => 1925,
            Self::Clinic => 1960,
            Self::Retail => 1975,
        }
    }
}

/// One customer building with its single heat meter.
#[derive(Debug, Clone)]
pub(crate) struct Building {
    pub index: usize,
    pub id: String,
    pub device_id: String,
    pub firmware: Firmware,
    pub name: String,
    pub kind: BuildingType,
    /// Heated area in tenths of m².
    pub area_dm2: i64,
    pub construction_year: i32,
    pub street_prefix: &'static str,
    pub street_name: &'static str,
    pub house_no: u32,
    pub postcode: String,
    pub city: &'static str,
    pub station: usize,
    pub installed_on: NaiveDate,
    /// Day of the month (1..=3) on which this device delivers the previous month's file.
    pub delivery_day: u32,
    /// Hot-water load in kWh per day.
    pub base_kwh: f64,
    /// Space-heating load in kWh per heating degree-day.
    pub kwh_per_hdd: f64,
}

impl Building {
    /// The street as the device registry spells it: `ul. Marszałkowska 12`.
    pub fn street(&self) -> String {
        format!(
            "{} {} {}",
            self.street_prefix, self.street_name, self.house_no
        )
    }
}

/// Draws the buildings, one after another from one stream; addresses are unique.
pub(crate) fn buildings(seed: u64, count: usize, period: &Period) -> Vec<Building> {
    let mut rng = rng_for(seed, Domain::Buildings, 0);
    let mut addresses = std::collections::BTreeSet::new();
    (0..count)
        .map(|index| {
            let station = pick_station(&mut rng);
            let &(city, lo, hi) = pick(&mut rng, STATIONS[station].towns);
            let (mut prefix_name, mut house_no);
            let mut spread = 120;
            loop {
                prefix_name = *pick(&mut rng, STREETS);
                house_no = rng.random_range(1..=spread);
                if addresses.insert((city, prefix_name.1, house_no)) {
                    break;
                }
                spread += 20;
            }
            let code = rng.random_range(lo..=hi);
            let kind = match rng.random_range(0..100) {
                0..45 => BuildingType::Residential,
                45..65 => BuildingType::Office,
                65..80 => BuildingType::School,
                80..88 => BuildingType::Clinic,
                _ => BuildingType::Retail,
            };
            let (lo_area, hi_area) = kind.area_range();
            let area_dm2 = (rng.random_range(lo_area..hi_area) * 10.0).round() as i64;
            let latest = period.first_day.year() - 1;
            let construction_year = rng.random_range(kind.oldest().min(latest)..=latest);
            // Older buildings leak more heat: 1.6x for 1925, about 0.7x for the newest.
            let age_factor = 0.7 + 0.9 * f64::from(latest - construction_year) / 95.0;
            let area = area_dm2 as f64 / 10.0;
            let kwh_per_hdd = area * 0.03 * age_factor * rng.random_range(0.85..1.15);
            let base_kwh = area * kind.base_per_m2() * rng.random_range(0.8..1.2);
            let name = building_name(&mut rng, kind, prefix_name.1, house_no);
            let installed_on = period.first_day - Days::new(rng.random_range(1..=2500));
            let firmware = Firmware::for_index(index);
            Building {
                index,
                id: format!("B{:05}", index + 1),
                device_id: format!("{}-{:05}", firmware.id_prefix(), index + 1),
                firmware,
                name,
                kind,
                area_dm2,
                construction_year,
                street_prefix: prefix_name.0,
                street_name: prefix_name.1,
                house_no,
                postcode: format!("{:02}-{:03}", code / 1000, code % 1000),
                city,
                station,
                installed_on,
                delivery_day: rng.random_range(1..=3),
                base_kwh,
                kwh_per_hdd,
            }
        })
        .collect()
}

fn pick_station<R: Rng>(rng: &mut R) -> usize {
    let mut roll = rng.random_range(0..100);
    for (i, station) in STATIONS.iter().enumerate() {
        if roll < station.share {
            return i;
        }
        roll -= station.share;
    }
    0
}

fn building_name<R: Rng>(rng: &mut R, kind: BuildingType, street: &str, no: u32) -> String {
    let roll = rng.random_range(0..100);
    match kind {
        BuildingType::Residential if roll < 65 => format!("Blok mieszkalny {street} {no}"),
        BuildingType::Residential if roll < 85 => format!("Kamienica {street} {no}"),
        BuildingType::Residential => format!("Osiedle {}", pick(rng, NICE_WORDS)),
        BuildingType::Office if roll < 50 => format!("Biurowiec {}", pick(rng, DISTRICTS)),
        BuildingType::Office if roll < 80 => format!("Centrum Biurowe {}", pick(rng, DISTRICTS)),
        BuildingType::Office => format!("Biurowiec {street} {no}"),
        BuildingType::School if roll < 70 => {
            format!("Szkoła Podstawowa nr {}", rng.random_range(1..=400))
        }
        BuildingType::School if roll < 85 => {
            format!("Liceum Ogólnokształcące nr {}", rng.random_range(1..=60))
        }
        BuildingType::School => format!("Przedszkole nr {}", rng.random_range(1..=300)),
        BuildingType::Clinic if roll < 60 => format!("Przychodnia {}", pick(rng, NICE_WORDS)),
        BuildingType::Clinic if roll < 80 => {
            format!("Przychodnia Rejonowa nr {}", rng.random_range(1..=40))
        }
        BuildingType::Clinic => format!("Centrum Medyczne {}", pick(rng, NICE_WORDS)),
        BuildingType::Retail => format!("{} {}", pick(rng, SHOP_KINDS), pick(rng, NICE_WORDS)),
    }
}
