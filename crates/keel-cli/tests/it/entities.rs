//! Entity resolution in the example: `entity_map` pairs CRM customers with registry
//! buildings; the generator knows the true pairs.

use keel_example::GenerateOptions;
use keel_testkit::ExampleProject;

use crate::support::{keel_ok, sql_rows};

#[test]
fn entity_map_finds_the_true_customer_building_pairs() {
    let project = ExampleProject::new(GenerateOptions {
        buildings: 200,
        years: 1,
        ..GenerateOptions::default()
    });
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let rows = sql_rows(
        dir,
        "SELECT customer_id, coalesce(building_id, ''), rule, decision \
         FROM exploitation.entity_map ORDER BY customer_id",
    );
    let truth = &project.truth.customer_buildings;
    assert_eq!(rows.len(), truth.len(), "one line per customer");
    let matched: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "matched").collect();
    let right = matched
        .iter()
        .filter(|r| truth.get(&r[0]) == Some(&r[1]))
        .count();
    let precision = right as f64 / matched.len() as f64;
    let recall = right as f64 / truth.len() as f64;
    assert!(
        precision >= 0.98 && recall >= 0.98,
        "precision {precision:.3}, recall {recall:.3}"
    );
    // Not only the CRM's own references: customers without one are resolved by similarity.
    let without_reference = truth.len() - project.truth.customers_with_ref;
    let by_similarity = matched
        .iter()
        .filter(|r| r[2] == "postcode+similarity" && truth.get(&r[0]) == Some(&r[1]))
        .count();
    // daily_consumption takes the customer through the map: every matched building's days
    // carry its customer, those without a CRM reference included.
    let missing = sql_rows(
        dir,
        "SELECT count(*) FROM exploitation.daily_consumption dc \
         JOIN exploitation.entity_map m ON m.building_id = dc.building_id \
         AND m.decision = 'matched' \
         WHERE dc.customer_id IS NULL OR dc.customer_id <> m.customer_id",
    );
    assert_eq!(missing[0][0], "0");
    assert!(without_reference > 0);
    assert!(
        by_similarity as f64 >= 0.9 * without_reference as f64,
        "{by_similarity} of {without_reference} customers without a reference resolved"
    );
}
