//! Unit conversion: a factor from a source unit to the canonical unit of the same quantity.

/// The factor to multiply a value in `from` by to express it in `to`, or `None` when the
/// units are unknown or measure different quantities.
pub fn factor(from: &str, to: &str) -> Option<f64> {
    let (qf, f) = in_base(from)?;
    let (qt, t) = in_base(to)?;
    (qf == qt).then_some(f / t)
}

/// A unit's quantity and its size in that quantity's base unit.
fn in_base(unit: &str) -> Option<(&'static str, f64)> {
    Some(match unit.trim() {
        // energy, base kWh
        "Wh" => ("energy", 1e-3),
        "kWh" => ("energy", 1.0),
        "MWh" => ("energy", 1e3),
        "GWh" => ("energy", 1e6),
        "kJ" => ("energy", 1.0 / 3600.0),
        "MJ" => ("energy", 1.0 / 3.6),
        "GJ" => ("energy", 1e3 / 3.6),
        // volume, base m3
        "l" | "L" => ("volume", 1e-3),
        "m3" | "m³" => ("volume", 1.0),
        // temperature differences and readings in °C only; no offsets here
        "C" | "°C" | "degC" => ("temperature", 1.0),
        // area
        "m2" | "m²" => ("area", 1.0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_units_convert_to_kwh() {
        assert_eq!(factor("MWh", "kWh"), Some(1000.0));
        assert_eq!(factor("kWh", "kWh"), Some(1.0));
        assert!((factor("GJ", "kWh").unwrap() - 277.777_777_8).abs() < 1e-6);
        assert_eq!(factor("MWh", "m3"), None);
        assert_eq!(factor("parsec", "kWh"), None);
    }
}
