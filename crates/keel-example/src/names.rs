//! Polish vocabulary of the simulated cities: people, streets, firms, and how clerks misspell them.

use rand::Rng;

/// First names; any goes with any surname of the matching form.
pub(crate) const MALE_FIRST: &[&str] = &[
    "Jan",
    "Piotr",
    "Krzysztof",
    "Andrzej",
    "Tomasz",
    "Paweł",
    "Michał",
    "Marcin",
    "Grzegorz",
    "Józef",
    "Łukasz",
    "Adam",
    "Zbigniew",
    "Jerzy",
    "Tadeusz",
    "Mateusz",
    "Dariusz",
    "Mariusz",
];

pub(crate) const FEMALE_FIRST: &[&str] = &[
    "Anna",
    "Maria",
    "Katarzyna",
    "Małgorzata",
    "Agnieszka",
    "Barbara",
    "Ewa",
    "Krystyna",
    "Elżbieta",
    "Zofia",
    "Joanna",
    "Magdalena",
    "Monika",
    "Teresa",
    "Danuta",
    "Grażyna",
];

/// Surnames as (male form, female form).
pub(crate) const SURNAMES: &[(&str, &str)] = &[
    ("Kowalski", "Kowalska"),
    ("Nowak", "Nowak"),
    ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"),
    ("Kowalczyk", "Kowalczyk"),
    ("Kamiński", "Kamińska"),
    ("Lewandowski", "Lewandowska"),
    ("Zieliński", "Zielińska"),
    ("Szymański", "Szymańska"),
    ("Woźniak", "Woźniak"),
    ("Dąbrowski", "Dąbrowska"),
    ("Kozłowski", "Kozłowska"),
    ("Jankowski", "Jankowska"),
    ("Mazur", "Mazur"),
    ("Krawczyk", "Krawczyk"),
    ("Piotrowski", "Piotrowska"),
    ("Grabowski", "Grabowska"),
    ("Pawłowski", "Pawłowska"),
    ("Michalski", "Michalska"),
    ("Król", "Król"),
];

/// Street names with their prefix (`ul.`, `al.`, `pl.`), as the registry spells them.
pub(crate) const STREETS: &[(&str, &str)] = &[
    ("ul.", "Marszałkowska"),
    ("ul.", "Słoneczna"),
    ("ul.", "Długa"),
    ("ul.", "Kościuszki"),
    ("ul.", "Mickiewicza"),
    ("ul.", "Słowackiego"),
    ("ul.", "Piłsudskiego"),
    ("ul.", "Żeromskiego"),
    ("ul.", "Źródlana"),
    ("ul.", "Świętokrzyska"),
    ("ul.", "Łąkowa"),
    ("ul.", "Ogrodowa"),
    ("ul.", "Polna"),
    ("ul.", "Leśna"),
    ("ul.", "Kwiatowa"),
    ("ul.", "Szkolna"),
    ("ul.", "Wrzosowa"),
    ("ul.", "Żwirki i Wigury"),
    ("ul.", "Chrobrego"),
    ("ul.", "Kopernika"),
    ("ul.", "Wróblewskiego"),
    ("ul.", "Grunwaldzka"),
    ("ul.", "Księżycowa"),
    ("ul.", "Jagiellońska"),
    ("ul.", "Piękna"),
    ("ul.", "Wesoła"),
    ("ul.", "Źródłowa"),
    ("ul.", "Bolesława Prusa"),
    ("al.", "Jerozolimskie"),
    ("al.", "Niepodległości"),
    ("al.", "Solidarności"),
    ("al.", "Róż"),
    ("pl.", "Grunwaldzki"),
    ("pl.", "Wolności"),
    ("pl.", "Zbawiciela"),
];

/// Names of districts and estates, used for offices and housing estates.
pub(crate) const DISTRICTS: &[&str] = &[
    "Mokotów",
    "Śródmieście",
    "Żoliborz",
    "Wola",
    "Ochota",
    "Praga",
    "Bielany",
    "Ursynów",
    "Krzyki",
    "Podgórze",
    "Wrzeszcz",
    "Oliwa",
    "Jeżyce",
    "Łazarz",
    "Grunwald",
    "Bronowice",
    "Przymorze",
    "Psie Pole",
    "Nowa Huta",
    "Winogrady",
];

/// Words for clinics, shops and cooperatives ("Przychodnia Zdrowie", "Spółdzielnia \"Słoneczna\"").
pub(crate) const NICE_WORDS: &[&str] = &[
    "Zdrowie",
    "Słoneczna",
    "Pod Lipami",
    "Rodzinna",
    "Medyk",
    "Centrum",
    "Zacisze",
    "Promyk",
    "Jutrzenka",
    "Nadzieja",
    "Przyjaźń",
    "Pogodna",
    "Relaks",
    "Świt",
    "Orzeł",
    "Wiślana",
];

/// Prefixes of shop names.
pub(crate) const SHOP_KINDS: &[&str] = &[
    "Sklep spożywczy",
    "Pawilon handlowy",
    "Galeria",
    "Market",
    "Dom Handlowy",
    "Apteka",
];

/// Picks one element of a non-empty slice.
pub(crate) fn pick<'a, T, R: Rng>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Replaces Polish diacritics by their ASCII base letters, as old systems and hurried clerks do.
pub(crate) fn strip_diacritics(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ą' => 'a',
            'ć' => 'c',
            'ę' => 'e',
            'ł' => 'l',
            'ń' => 'n',
            'ó' => 'o',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            'Ą' => 'A',
            'Ć' => 'C',
            'Ę' => 'E',
            'Ł' => 'L',
            'Ń' => 'N',
            'Ó' => 'O',
            'Ś' => 'S',
            'Ź' | 'Ż' => 'Z',
            other => other,
        })
        .collect()
}

/// Swaps two adjacent letters somewhere in the text: a typing error.
pub(crate) fn swap_letters<R: Rng>(rng: &mut R, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let candidates: Vec<usize> = (0..chars.len().saturating_sub(1))
        .filter(|&i| chars[i].is_alphabetic() && chars[i + 1].is_alphabetic())
        .filter(|&i| chars[i] != chars[i + 1])
        .collect();
    if candidates.is_empty() {
        return s.to_owned();
    }
    let i = *pick(rng, &candidates);
    chars.swap(i, i + 1);
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn strip_diacritics_keeps_ascii_and_maps_polish_letters() {
        assert_eq!(strip_diacritics("Żółć Łąkowa 12"), "Zolc Lakowa 12");
    }

    #[test]
    fn swap_letters_changes_two_adjacent_letters_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let swapped = swap_letters(&mut rng, "Marszałkowska");
        assert_ne!(swapped, "Marszałkowska");
        let mut a: Vec<char> = swapped.chars().collect();
        let mut b: Vec<char> = "Marszałkowska".chars().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
}
