-- Daily consumption per building joined with the weather of its station on that day,
-- heating degree days (base 15.5 °C) and the customer's building attributes.
SELECT
    d.building_id,
    r.device_id,
    r.reading_date,
    r.consumption_kwh,
    w.temperature_mean_c,
    GREATEST(15.5 - w.temperature_mean_c, 0.0) AS hdd,
    d.station_id,
    c.customer_id,
    c.building_type,
    c.heated_area_m2,
    c.construction_year
FROM formatted.readings r
JOIN formatted.devices d ON d.device_id = r.device_id
JOIN formatted.weather w ON w.station_id = d.station_id AND w.weather_date = r.reading_date
-- The customer of the building as entity resolution found it (the CRM's own reference is
-- missing on some of its rows).
LEFT JOIN exploitation.entity_map m ON m.building_id = d.building_id AND m.decision = 'matched'
LEFT JOIN formatted.customers c ON c.customer_id = m.customer_id
