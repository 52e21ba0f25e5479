-- Issuances and denials counted per hour, action and outcome, for GET /audit/stats over
-- long windows: a year of counts is tens of thousands of rows where the log holds
-- millions. Filled from closed hours by a background task, not by the writer (see
-- src/audit/hourly.rs); audit_rollup.through_hour is the first hour not yet counted.
CREATE TABLE audit_hourly (
    hour    BIGINT NOT NULL, -- seconds since 1970-01-01T00:00:00Z, divided by 3600
    action  TEXT   NOT NULL,
    outcome TEXT   NOT NULL CHECK (outcome IN ('issued', 'denied')),
    n       BIGINT NOT NULL,
    PRIMARY KEY (hour, action, outcome)
);

CREATE TABLE audit_rollup (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    through_hour BIGINT  NOT NULL
);
