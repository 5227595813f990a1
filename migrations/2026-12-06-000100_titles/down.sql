DROP TABLE awards;
DROP TABLE title_registrations;
DROP TABLE year_records;
DROP TABLE persons;
DROP TABLE base_salaries;
DROP TABLE rule_sets;
